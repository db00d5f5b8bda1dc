#include "commands/commands.hpp"

#include "runtime/inference.hpp"
#include "runtime/input_reader.hpp"
#include "runtime/run_outputs.hpp"
#include "runtime/shard.hpp"
#include "runtime/pipeline.hpp"
#include "config/pipeline_config.hpp"
#include "loader/host_keys.hpp"
#include "loader/plugin_host.hpp"

#include <radpipe/fingerprint.hpp>
#include <radpipe/version.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>

namespace radpipe::host {
namespace fs = std::filesystem;

void load_plugins(PluginHost& plugins, const GlobalOptions& global) {
  auto folders = plugin_search_path(global.plugin_paths);
  for (const auto& folder : folders) spdlog::debug("plugin folder: {}", folder.string());
  plugins.load_folders(folders);
  for (const auto& broken : plugins.broken()) spdlog::warn("plugin {} skipped: {}", broken.file.string(), broken.reason);
  for (const auto& note : plugins.shadowed()) spdlog::warn("{}", note);
}

namespace {

std::string default_text(const ParamSpec& spec) {
  if (spec.default_value) return to_toml(*spec.default_value);
  return spec.is_optional ? "(optional)" : "(required)";
}

std::string constraint_text(const ParamSpec& spec) {
  std::vector<std::string> parts;
  if (spec.minimum && spec.maximum) parts.push_back(fmt::format("{}..{}", *spec.minimum, *spec.maximum));
  else if (spec.minimum) parts.push_back(fmt::format(">= {}", *spec.minimum));
  else if (spec.maximum) parts.push_back(fmt::format("<= {}", *spec.maximum));
  if (!spec.choices.empty()) parts.push_back("one of " + join(spec.choices, "|"));
  if (spec.min_items && spec.min_items == spec.max_items) parts.push_back(fmt::format("{} items", *spec.min_items));
  else if (spec.min_items || spec.max_items)
    parts.push_back(fmt::format("{}..{} items", spec.min_items.value_or(0), spec.max_items ? std::to_string(*spec.max_items) : "n"));
  if (spec.path_must_exist) parts.push_back("must exist");
  return join(parts, "; ");
}

nlohmann::json schema_json(const Schema& schema) {
  nlohmann::json params = nlohmann::json::array();
  for (const auto& spec : schema.specs()) {
    nlohmann::json item{{"name", spec.name}, {"type", std::string(to_string(spec.type))}, {"doc", spec.doc},
                        {"required", spec.required()}};
    if (spec.default_value) item["default"] = to_toml(*spec.default_value);
    if (spec.minimum) item["minimum"] = *spec.minimum;
    if (spec.maximum) item["maximum"] = *spec.maximum;
    if (!spec.choices.empty()) item["choices"] = spec.choices;
    if (spec.min_items) item["min_items"] = *spec.min_items;
    if (spec.max_items) item["max_items"] = *spec.max_items;
    if (spec.path_must_exist) item["must_exist"] = true;
    params.push_back(item);
  }
  return params;
}

void print_schema_table(const Schema& schema) {
  std::size_t name_width = 4, type_width = 4, default_width = 7, constraint_width = 11;
  for (const auto& spec : schema.specs()) {
    name_width = std::max(name_width, spec.name.size());
    type_width = std::max(type_width, to_string(spec.type).size());
    default_width = std::max(default_width, default_text(spec).size());
    constraint_width = std::max(constraint_width, constraint_text(spec).size());
  }
  std::cout << fmt::format("  {:<{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", "key", name_width, "type", type_width, "default", default_width,
                           "constraints", constraint_width, "description");
  for (const auto& spec : schema.specs())
    std::cout << fmt::format("  {:<{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", spec.name, name_width, to_string(spec.type), type_width,
                             default_text(spec), default_width, constraint_text(spec), constraint_width, spec.doc);
}

} // namespace

int command_plugins(const GlobalOptions& global, bool as_json) {
  PluginHost plugins;
  load_plugins(plugins, global);
  if (as_json) {
    nlohmann::json out{{"plugins", nlohmann::json::array()}, {"broken", nlohmann::json::array()}};
    for (const auto& plugin : plugins.plugins()) {
      nlohmann::json stages = nlohmann::json::array();
      for (const auto& stage : plugin->stages)
        stages.push_back({{"kind", std::string(to_string(stage.kind))}, {"name", stage.name}, {"summary", stage.summary}});
      out["plugins"].push_back({{"name", plugin->name}, {"version", plugin->version}, {"description", plugin->description},
                                {"file", plugin->file.string()}, {"sdk_version", plugin->sdk_version}, {"stages", stages}});
    }
    for (const auto& broken : plugins.broken()) out["broken"].push_back({{"file", broken.file.string()}, {"reason", broken.reason}});
    std::cout << out.dump(2) << '\n';
    return exit_ok;
  }
  if (plugins.plugins().empty()) std::cout << "no plugins found (searched --plugin-path, RADPIPE_PLUGIN_PATH and the installation)\n";
  for (const auto& plugin : plugins.plugins()) {
    std::cout << fmt::format("{} {}  {}\n  {}\n", plugin->name, plugin->version, plugin->description, plugin->file.string());
    for (const auto& stage : plugin->stages)
      std::cout << fmt::format("    {:<11} {:<18} {}\n", to_string(stage.kind), stage.name, stage.summary);
  }
  for (const auto& broken : plugins.broken()) std::cout << fmt::format("BROKEN {}\n  {}\n", broken.file.string(), broken.reason);
  return exit_ok;
}

int command_inspect(const GlobalOptions& global, const std::string& stage_name, bool as_json) {
  // The host's own tables can be inspected too: "[pipeline]", "[train]", "[evaluate]".
  if (stage_name == "[pipeline]" || stage_name == "[train]" || stage_name == "[evaluate]" || stage_name == "[route.NAME]") {
    const Schema& schema = stage_name == "[train]"        ? train_table_schema()
                           : stage_name == "[evaluate]"   ? evaluate_table_schema()
                           : stage_name == "[route.NAME]" ? chain_table_schema()
                                                          : pipeline_table_schema();
    if (as_json) std::cout << nlohmann::json{{"table", stage_name}, {"parameters", schema_json(schema)}}.dump(2) << '\n';
    else {
      std::cout << stage_name << " table of pipeline files\n";
      print_schema_table(schema);
    }
    return exit_ok;
  }
  PluginHost plugins;
  load_plugins(plugins, global);
  std::string name = stage_name;
  std::optional<StageKind> kind;
  if (auto slash = stage_name.find('/'); slash != std::string::npos) {
    kind = stage_kind_from_string(stage_name.substr(0, slash));
    name = stage_name.substr(slash + 1);
  }
  std::vector<StageEntry> matches;
  for (const auto& entry : plugins.stages_named(name))
    if (!kind || entry.stage->kind == *kind) matches.push_back(entry);
  if (matches.empty()) {
    std::vector<std::string> all;
    for (const auto& plugin : plugins.plugins())
      for (const auto& stage : plugin->stages) all.push_back(stage.name);
    std::string message = fmt::format("radpipe: no stage named '{}'", stage_name);
    if (auto close = closest_match(name, all); !close.empty()) message += fmt::format("; did you mean '{}'?", close);
    std::cerr << message << "\nstages: " << join(all) << "\n";
    return exit_invalid;
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& entry : matches) {
    if (as_json) {
      out.push_back({{"name", entry.stage->name}, {"kind", std::string(to_string(entry.stage->kind))}, {"summary", entry.stage->summary},
                     {"plugin", entry.plugin->name}, {"plugin_version", entry.plugin->version},
                     {"parameters", schema_json(entry.stage->schema)}, {"host_parameters", schema_json(host_keys_for(entry.stage->kind))}});
      continue;
    }
    std::cout << fmt::format("{} {} (plugin {} {})\n  {}\n", to_string(entry.stage->kind), entry.stage->name, entry.plugin->name,
                             entry.plugin->version, entry.stage->summary);
    if (entry.stage->schema.specs().empty()) std::cout << "  (no parameters)\n";
    else print_schema_table(entry.stage->schema);
    if (const Schema& host = host_keys_for(entry.stage->kind); !host.specs().empty()) {
      std::cout << fmt::format("  keys radpipe itself reads in every {} table:\n", to_string(entry.stage->kind));
      print_schema_table(host);
    }
  }
  if (as_json) std::cout << (out.size() == 1 ? out[0] : out).dump(2) << '\n';
  return exit_ok;
}

std::optional<PipelineConfig> validate_or_report(const fs::path& pipeline, const PluginHost& plugins) {
  ValidationResult result = load_pipeline(pipeline, plugins);
  for (const auto& diagnostic : result.diagnostics) std::cerr << format(diagnostic) << '\n';
  if (!result.diagnostics.empty())
    std::cerr << fmt::format("{}: {} problem{} found\n", pipeline.string(), result.diagnostics.size(),
                             result.diagnostics.size() == 1 ? "" : "s");
  return std::move(result.config);
}

int command_check(const GlobalOptions& global, const fs::path& pipeline) {
  PluginHost plugins;
  load_plugins(plugins, global);
  auto config = validate_or_report(pipeline, plugins);
  if (!config) return exit_invalid;
  std::vector<std::string> chains;
  for (const auto& chain : config->chains)
    chains.push_back(fmt::format("{} ({}{})", chain.name, chain.model.entry.stage->name,
                                 chain.preprocess.empty() ? "" : fmt::format(", {} own step{}", chain.preprocess.size(), chain.preprocess.size() == 1 ? "" : "s")));
  std::cout << fmt::format("{}: valid pipeline '{}': reader {}, {} shared preprocessing step{}, {} chain{}: {}{}, aggregator {}\n",
                           pipeline.string(), config->settings.string("name"), config->reader.entry.stage->name, config->preprocess.size(),
                           config->preprocess.size() == 1 ? "" : "s", chains.size(), chains.size() == 1 ? "" : "s", join(chains),
                           config->route ? fmt::format("; routed by {}", config->route->router.entry.stage->name) : "",
                           config->aggregate.entry.stage->name);
  return exit_ok;
}

namespace {

std::atomic<bool> stop_requested{false};
std::atomic<int> stop_signal{0};

void request_stop(int signal_number) {
  if (stop_requested.exchange(true)) std::_Exit(128 + signal_number); // a second signal: stop now
  stop_signal = signal_number;
}

// SIGINT and SIGTERM stop the run after the images in flight; restored when the run ends.
class StopOnSignals {
public:
  StopOnSignals() {
    stop_requested = false;
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~StopOnSignals() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

} // namespace

int command_predict(const GlobalOptions& global, const PredictOptions& options) {
  PluginHost plugins;
  load_plugins(plugins, global);
  auto config = validate_or_report(options.pipeline, plugins);
  if (!config) return exit_invalid;

  Shard shard;
  try {
    if (!options.shard.empty()) shard = parse_shard(options.shard);
    else if (auto assigned = shard_from_environment(options.shard_count)) shard = *assigned;
  } catch (const std::invalid_argument& error) {
    spdlog::error("{}", error.what());
    return exit_usage;
  }

  BuildOptions build;
  build.threads = global.threads;
  build.device_override = options.device;
  build.checkpoint = options.checkpoint;
  Pipeline pipeline(*config, plugins, build);
  if (!options.inputs.empty()) {
    auto inputs = std::make_shared<InputsReader>(plugins, options.inputs);
    pipeline.reader() = Built<Reader>{inputs->first_entry(), inputs};
  }
  const int threads = resolve_threads(global.threads > 0 ? global.threads : static_cast<int>(config->settings.integer("threads")));
  torch::set_num_threads(threads);
  spdlog::info("pipeline '{}': {} intra-op thread{}, {} decode worker{}{}", config->settings.string("name"), threads,
               threads == 1 ? "" : "s", config->settings.integer("workers"), config->settings.integer("workers") == 1 ? "" : "s",
               shard.count > 1 ? ", shard " + shard.text() : "");

  OutputOptions output_options;
  output_options.out_dir = options.out_dir;
  output_options.resume = options.resume;
  output_options.shard = shard;
  output_options.inputs = options.inputs;
  for (const auto& chain : pipeline.chains())
    output_options.commit_every = std::min(output_options.commit_every, std::max<std::size_t>(1, chain.config->batch_size));
  RunOutputs outputs(pipeline, plugins, output_options);

  StopOnSignals signals;
  InferenceOptions inference(options.split, options.limit);
  if (shard.count > 1 || options.resume) {
    inference.keep = [&](const SampleInfo& info) { return shard.holds(info) && !outputs.committed(info.id); };
    inference.expected_share = shard.count;
    inference.already_done = outputs.images_before();
  }
  inference.stop = &stop_requested;
  const InferenceSummary summary = stream_inference(pipeline, inference, [&](ImagePrediction&& image) { outputs.add(std::move(image)); });
  const bool stopped = stop_requested.load();
  outputs.finish(summary, stopped ? "interrupted" : "complete");

  spdlog::info("{}: {} images scored, {} studies written in all{}, {} skipped, {} committed before, in {:.1f} s ({:.1f} img/s); wrote {}",
               stopped ? "stopped" : "done", summary.images, outputs.studies(),
               outputs.open_studies() > 0 ? fmt::format(" ({} open, finished by --resume)", outputs.open_studies()) : "",
               summary.skipped.size(), outputs.images_before(), summary.seconds,
               static_cast<double>(summary.images) / std::max(summary.seconds, 1e-9), options.out_dir.string());
  if (stopped) {
    spdlog::warn("stopped by signal {}: the output holds whole lines only; continue with --resume", stop_signal.load());
    return exit_interrupted;
  }
  if (outputs.images() == 0) {
    spdlog::error("no image could be scored ({} skipped)", summary.skipped.size());
    return exit_invalid;
  }
  return exit_ok;
}

} // namespace radpipe::host
