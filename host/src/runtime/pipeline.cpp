#include "runtime/pipeline.hpp"

#include "runtime/ensemble.hpp"
#include "runtime/precision.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
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

std::string transform_state_file(std::size_t position, const std::string& chain) {
  return (chain.empty() || chain == "default" ? std::string() : "route-" + chain + "-") + "preprocess-" + std::to_string(position + 1) + ".state";
}

std::string chain_weights_file(const std::string& chain) { return chain == "default" ? std::string("model.pt") : "model-" + chain + ".pt"; }

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

StageContext Pipeline::context_for(const StageConfig& stage) const { return stage_context(config_, stage, threads_); }

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

Built<Reader> Pipeline::make_reader() const {
  Built<Reader> reader = build_reader(config_, plugins_, threads_);
  if (sample_filter_) reader.stage = std::make_shared<FilteredReader>(std::move(reader.stage), sample_filter_);
  return reader;
}

std::optional<int> Chain::target_of(const SampleInfo& info) const {
  if (!multiclass()) return info.label;
  auto value = field_value(info, config->target());
  if (!value) return std::nullopt;
  for (std::size_t i = 0; i < classes.size(); ++i)
    if (classes[i].size() == value->size() &&
        std::equal(value->begin(), value->end(), classes[i].begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); }))
      return static_cast<int>(i);
  return std::nullopt;
}

Chain* Pipeline::chain(std::string_view name) {
  for (auto& each : chains_)
    if (each.name == name) return &each;
  return nullptr;
}

void Pipeline::set_training(bool on) {
  for (auto& chain : chains_)
    for (auto& model : chain.models()) call_plugin(model.entry, [&] { model.stage->set_training(on); });
}

void Pipeline::prepare_models(ModelForm form) {
  for (auto& chain : chains_)
    for (auto& model : chain.models())
      call_plugin(model.entry, [&] {
        model.stage->set_training(false);
        model.stage->set_form(form);
      });
}

ModelForm Pipeline::scoring_form() const {
  return config_.settings.boolean("optimize") ? ModelForm::Inference : ModelForm::Trainable;
}

DecodeHint decode_hint_of(const std::vector<Built<Transform>>& shared, const std::vector<Built<Transform>>& own) {
  DecodeHint hint;
  for (const auto* steps : {&shared, &own})
    for (const auto& transform : *steps) {
      DecodeHint refined = hint;
      if (!call_plugin(transform.entry, [&] { return transform.stage->refine_decode_hint(refined); })) return hint;
      hint = refined;
    }
  return hint;
}

namespace {

// Restores the fitted state of `transforms` from a checkpoint folder.
void load_transform_states(std::vector<Built<Transform>>& transforms, const std::filesystem::path& checkpoint, const std::string& chain) {
  for (std::size_t position = 0; position < transforms.size(); ++position) {
    auto& transform = transforms[position];
    if (!transform.stage->needs_fit()) continue;
    const auto file = checkpoint / transform_state_file(position, chain);
    if (!std::filesystem::exists(file))
      throw std::runtime_error("checkpoint " + checkpoint.string() + " has no " + file.filename().string() + " for " +
                               (chain.empty() ? std::string("[[preprocess]]") : "[[route." + chain + ".preprocess]]") + " #" +
                               std::to_string(position + 1) + " (" + transform.entry.stage->name + ")");
    call_plugin(transform.entry, [&] { transform.stage->load_state(file); });
  }
}

// The weights file of model chain `chain` in a checkpoint folder; refused by name when missing.
// A run with [train] ema_decay validated the average of its weights (MODEL.average.pt), so that is
// what the checkpoint's scores and best.pt stand for, and what is scored from it.
// With `selected`, the chain's selected weights that the checkpoint carries (MODEL.best.pt: already
// the average's when the run validated one).
std::filesystem::path checkpoint_weights(const std::filesystem::path& checkpoint, const std::string& chain, bool selected) {
  auto file = checkpoint / chain_weights_file(chain);
  if (selected) {
    auto best = std::filesystem::path(file).replace_extension(".best.pt");
    if (!std::filesystem::exists(best))
      throw std::runtime_error("checkpoint " + checkpoint.string() + " has no " + best.filename().string() + " for model chain '" +
                               chain + "' (the weights it selected): score the weights the checkpoint ended with, without --selected");
    return best;
  }
  if (auto average = std::filesystem::path(file).replace_extension(".average.pt"); std::filesystem::exists(average)) return average;
  if (!std::filesystem::exists(file))
    throw std::runtime_error("checkpoint " + checkpoint.string() + " has no " + file.filename().string() + " for model chain '" + chain + "'");
  return file;
}

} // namespace

Pipeline::Pipeline(const PipelineConfig& config, const PluginHost& plugins, const BuildOptions& options)
    : config_(config), plugins_(plugins), sample_filter_(options.sample_filter) {
  threads_ = resolve_threads(options.threads > 0 ? options.threads : static_cast<int>(config.settings.integer("threads")));
  reader_ = make_reader();
  for (const auto& stage : config.preprocess)
    transforms_.push_back({stage.entry, create_configured<Transform>(plugins, stage, context_for(stage))});
  if (!options.checkpoint.empty()) load_transform_states(transforms_, options.checkpoint, "");
  const bool hints = config.settings.boolean("decode_hints");
  if (hints) decode_hint_ = decode_hint_of(transforms_); // refined below by each chain's own steps
  if (!options.build_models) return;

  const bool checkpoint_follows = !options.load_model_weights || !options.checkpoint.empty();
  for (const auto& chain_config : config.chains) {
    Chain chain;
    chain.config = &chain_config;
    chain.name = chain_config.name;
    chain.batch_size = chain_config.batch_size;
    chain.classes = chain_config.classes();
    for (const auto& stage : chain_config.preprocess)
      chain.transforms.push_back({stage.entry, create_configured<Transform>(plugins, stage, context_for(stage))});
    if (!options.checkpoint.empty()) load_transform_states(chain.transforms, options.checkpoint, chain.name);
    std::vector<std::string> ensemble = chain_config.ensemble();
    if (!ensemble.empty() && !options.checkpoint.empty())
      throw std::runtime_error(format(Diagnostic{
          ensemble_location(chain_config),
          ensemble_refusal(chain_config) + ", and --checkpoint " +
              options.checkpoint.string() + " gives the chain one model: score the checkpoint alone with --set " +
              chain_config.model.table + ".ensemble=[], or list its " + chain_weights_file(chain.name) + " in ensemble"}));
    if (!options.member_checkpoints.empty()) {
      if (options.checkpoint.empty()) throw std::logic_error("member checkpoints without the first member's checkpoint");
      std::vector<std::filesystem::path> folders{options.checkpoint};
      folders.insert(folders.end(), options.member_checkpoints.begin(), options.member_checkpoints.end());
      for (const auto& folder : folders) ensemble.push_back(checkpoint_weights(folder, chain.name, options.selected_weights).string());
      spdlog::info("model chain '{}': the mean of the models of {} checkpoints, {} first", chain.name, folders.size(), options.checkpoint.string());
    }
    StageContext model_context = context_for(chain_config.model);
    // An ensemble's members load their own files: the table's weights would be read for nothing.
    model_context.checkpoint_follows = checkpoint_follows || !ensemble.empty();
    chain.model = {chain_config.model.entry, create_configured<Model>(plugins, chain_config.model, model_context)};
    chain.average = averaging_from(chain_config.model_host);
    chain.tta = TestTimeAugmentation::from(chain_config.model_host);
    for (std::size_t member = 0; member < ensemble.size(); ++member) {
      Built<Model> built = member == 0 ? chain.model : Built<Model>{chain_config.model.entry, create_configured<Model>(plugins, chain_config.model, model_context)};
      call_plugin(built.entry, [&] { built.stage->load_weights(ensemble[member]); });
      chain.ensemble.push_back(std::move(built));
      chain.weight_files.emplace_back(ensemble[member]);
    }
    chain.device = resolve_device(options.device_override.empty() ? chain_config.device() : options.device_override);
    const auto precision = parse_precision(chain_config.model_host.string("precision")).value_or(Precision::fp32);
    if (const std::string problem = precision_problem(precision, chain.device); !problem.empty()) {
      const auto place = chain_config.model.key_locations.find("precision");
      throw std::runtime_error(format(Diagnostic{place == chain_config.model.key_locations.end() ? chain_config.model.where : place->second,
                                                 "[" + chain_config.model.table + "] on " + chain.device.str() + ": " + problem}));
    }
    const int outputs = call_plugin(chain.model.entry, [&] { return chain.model.stage->num_outputs(); });
    if (chain.multiclass() && outputs != static_cast<int>(chain.classes.size()))
      throw std::runtime_error(format(Diagnostic{chain_config.model.where, "[" + chain_config.model.table + "] names " +
                                                                                std::to_string(chain.classes.size()) + " classes, but its model has " +
                                                                                std::to_string(outputs) + " outputs; make them equal"}));
    if (!chain.multiclass() && outputs > 2)
      throw std::runtime_error(format(Diagnostic{chain_config.model.where, "[" + chain_config.model.table + "]: the model has " +
                                                                                std::to_string(outputs) +
                                                                                " outputs; name them with classes = [...] (binary chains have 1 or 2)"}));
    if (!options.checkpoint.empty() && options.member_checkpoints.empty()) {
      const auto file = checkpoint_weights(options.checkpoint, chain.name, options.selected_weights);
      call_plugin(chain.model.entry, [&] { chain.model.stage->load_weights(file); });
      chain.weight_files = {file};
      spdlog::info("model chain '{}': weights from {}", chain.name, file.string());
    }
    for (auto& model : chain.models()) call_plugin(model.entry, [&] { model.stage->to(chain.device); });
    chain.aggregator = {chain_config.aggregate.entry, create_configured<Aggregator>(plugins, chain_config.aggregate, context_for(chain_config.aggregate))};
    const std::string scoring = scoring_summary(chain_config);
    spdlog::info("model chain '{}': {} on {}{}{}{}", chain.name, chain_config.model.entry.stage->name, chain.device.str(),
                 precision == Precision::fp32 ? std::string() : fmt::format(", scoring in {} autocast", precision_name(precision)),
                 chain.transforms.empty() ? std::string() : fmt::format(", {} own preprocessing step{}", chain.transforms.size(), chain.transforms.size() == 1 ? "" : "s"),
                 scoring.empty() ? std::string() : ", " + scoring);
    chains_.push_back(std::move(chain));
  }
  // One reader feeds every chain: it decodes what the most demanding of them needs.
  if (hints && !chains_.empty()) {
    decode_hint_ = decode_hint_of(transforms_, chains_.front().transforms);
    for (const auto& chain : chains_) decode_hint_ = most_demanding(decode_hint_, decode_hint_of(transforms_, chain.transforms));
  }
  if (config.route)
    router_ = Built<Router>{config.route->router.entry, create_configured<Router>(plugins, config.route->router, context_for(config.route->router))};
  if (config.explain)
    explainer_ = Built<Explainer>{config.explain->entry, create_configured<Explainer>(plugins, *config.explain, context_for(*config.explain))};
}

} // namespace radpipe::host
