#include "pipeline.hpp"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <thread>

namespace radpipe::host {

torch::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  torch::Device device(name);
  if (device.is_cuda()) {
    if (!torch::cuda::is_available())
      throw std::runtime_error("device '" + name + "' asked for, but this LibTorch sees no CUDA device (use device = \"cpu\" or \"auto\")");
    if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count()))
      throw std::runtime_error("device '" + name + "' asked for, but only " + std::to_string(torch::cuda::device_count()) +
                               " CUDA device(s) are visible");
  }
  return device;
}

std::string transform_state_file(std::size_t position) { return "preprocess-" + std::to_string(position + 1) + ".state"; }

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

LogFunction logger_for(std::string prefix) {
  return [prefix = std::move(prefix)](LogLevel level, const std::string& message) {
    switch (level) {
    case LogLevel::Debug: spdlog::debug("[{}] {}", prefix, message); break;
    case LogLevel::Info: spdlog::info("[{}] {}", prefix, message); break;
    case LogLevel::Warning: spdlog::warn("[{}] {}", prefix, message); break;
    case LogLevel::Error: spdlog::error("[{}] {}", prefix, message); break;
    }
  };
}

DecodeHint decode_hint_of(const std::vector<Built<Transform>>& chain) {
  DecodeHint hint;
  for (const auto& transform : chain) {
    DecodeHint refined = hint;
    if (!call_plugin(transform.entry, [&] { return transform.stage->refine_decode_hint(refined); })) break;
    hint = refined;
  }
  return hint;
}

StageContext stage_context(const PipelineConfig& config, const StageConfig& stage, int threads) {
  StageContext context;
  context.pipeline_dir = config.folder;
  context.plugin_name = stage.entry.plugin->name;
  context.stage_name = stage.entry.stage->name;
  context.threads = threads;
  context.seed = static_cast<std::uint64_t>(config.settings.integer("seed"));
  context.log = logger_for(stage.table + " " + stage.entry.stage->name);
  return context;
}

Built<Reader> build_reader(const PipelineConfig& config, const PluginHost& plugins, int threads) {
  return {config.reader.entry, create_configured<Reader>(plugins, config.reader, stage_context(config, config.reader, threads))};
}

StageContext Pipeline::context_for(const StageConfig& stage) const { return stage_context(config_, stage, threads_); }

Built<Reader> Pipeline::make_reader() const { return build_reader(config_, plugins_, threads_); }

Pipeline::Pipeline(const PipelineConfig& config, const PluginHost& plugins, const BuildOptions& options)
    : config_(config), plugins_(plugins) {
  threads_ = resolve_threads(options.threads > 0 ? options.threads : static_cast<int>(config.settings.integer("threads")));
  reader_ = make_reader();
  for (const auto& stage : config.preprocess)
    transforms_.push_back({stage.entry, create_configured<Transform>(plugins, stage, context_for(stage))});
  if (!options.checkpoint.empty()) {
    for (std::size_t position = 0; position < transforms_.size(); ++position) {
      auto& transform = transforms_[position];
      if (!transform.stage->needs_fit()) continue;
      const auto file = options.checkpoint / transform_state_file(position);
      if (!std::filesystem::exists(file))
        throw std::runtime_error("checkpoint " + options.checkpoint.string() + " has no " + file.filename().string() + " for [[preprocess]] #" +
                                 std::to_string(position + 1) + " (" + transform.entry.stage->name + ")");
      call_plugin(transform.entry, [&] { transform.stage->load_state(file); });
    }
  }
  if (config.settings.boolean("decode_hints")) decode_hint_ = decode_hint_of(transforms_);

  if (!options.build_models) return;

  auto build_chain = [&](const ModelChainConfig& chain) {
    StageConfig model = chain.model;
    if ((!options.load_model_weights || !options.checkpoint.empty()) && model.params.has("weights")) model.params = [&] {
      Params without;
      for (const auto& [key, value] : chain.model.params.values())
        if (key != "weights") without.set(key, value);
      return without;
    }();
    ModelChain built{chain.name, {chain.model.entry, create_configured<Model>(plugins, model, context_for(chain.model))},
                     resolve_device(options.device_override.empty() ? chain.device : options.device_override)};
    if (!options.checkpoint.empty()) {
      const auto file = options.checkpoint / (chain.name == "default" ? std::string("model.pt") : "model-" + chain.name + ".pt");
      if (!std::filesystem::exists(file))
        throw std::runtime_error("checkpoint " + options.checkpoint.string() + " has no " + file.filename().string() +
                                 " for model chain '" + chain.name + "'");
      call_plugin(built.model.entry, [&] { built.model.stage->load_weights(file); });
      spdlog::info("model chain '{}': weights from {}", chain.name, file.string());
    }
    call_plugin(built.model.entry, [&] { built.model.stage->to(built.device); });
    spdlog::info("model chain '{}': {} on {}", chain.name, chain.model.entry.stage->name, built.device.str());
    return built;
  };
  default_chain_ = build_chain(config.model);
  for (const auto& route : config.routes) routed_.push_back(build_chain(route));
  aggregator_ = {config.aggregate.entry,
                 create_configured<Aggregator>(plugins, config.aggregate, context_for(config.aggregate))};
  if (config.explain)
    explainer_ = Built<Explainer>{config.explain->entry,
                                  create_configured<Explainer>(plugins, *config.explain, context_for(*config.explain))};
}

void Pipeline::prepare_models(ModelForm form) {
  auto prepare = [form](ModelChain& chain) {
    call_plugin(chain.model.entry, [&] {
      chain.model.stage->set_training(false);
      chain.model.stage->set_form(form);
    });
  };
  prepare(default_chain_);
  for (auto& chain : routed_) prepare(chain);
}

ModelForm Pipeline::scoring_form() const {
  return config_.settings.boolean("optimize") ? ModelForm::Inference : ModelForm::Trainable;
}

ModelChain& Pipeline::chain_for(const Sample& sample) {
  if (config_.route_by.empty() || routed_.empty()) return default_chain_;
  const std::string& value = config_.route_by == "body_part" ? sample.info.body_part
                             : config_.route_by == "view"    ? sample.info.view
                                                             : sample.info.split;
  for (auto& chain : routed_)
    if (chain.name == value) return chain;
  return default_chain_;
}

} // namespace radpipe::host
