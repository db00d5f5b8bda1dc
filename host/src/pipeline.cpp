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

namespace {

// A reader whose listing passes through a SampleFilter; decoding is the inner reader's.
class FilteredReader final : public Reader {
public:
  FilteredReader(std::shared_ptr<Reader> inner, SampleFilter filter) : inner_(std::move(inner)), filter_(std::move(filter)) {}
  std::optional<SampleInfo> next() override {
    while (auto info = inner_->next())
      if (filter_(*info)) return info;
    return std::nullopt;
  }
  Sample load(const SampleInfo& info) const override { return inner_->load(info); }

private:
  std::shared_ptr<Reader> inner_;
  SampleFilter filter_;
};

} // namespace

StageContext Pipeline::context_for(const StageConfig& stage) const { return stage_context(config_, stage, threads_); }

Built<Reader> Pipeline::make_reader() const {
  Built<Reader> reader = build_reader(config_, plugins_, threads_);
  if (sample_filter_) reader.stage = std::make_shared<FilteredReader>(std::move(reader.stage), sample_filter_);
  return reader;
}

Pipeline::Pipeline(const PipelineConfig& config, const PluginHost& plugins, const BuildOptions& options)
    : config_(config), plugins_(plugins), sample_filter_(options.sample_filter) {
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
