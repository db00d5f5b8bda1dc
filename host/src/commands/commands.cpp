#include "commands/commands.hpp"

#include "config/pipeline_config.hpp"
#include "io/atomic_file.hpp"
#include "loader/host_keys.hpp"
#include "loader/plugin_host.hpp"
#include "loader/plugin_verify.hpp"
#include "runtime/ensemble.hpp"
#include "runtime/inference.hpp"
#include "runtime/input_reader.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/run_outputs.hpp"
#include "runtime/shard.hpp"

#include <radpipe/fingerprint.hpp>
#include <radpipe/version.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <tuple>

namespace radpipe::host {
namespace fs = std::filesystem;

void load_plugins(PluginHost& plugins, const GlobalOptions& global) {
  auto folders = plugin_search_path(global.plugin_paths);
  for (const auto& folder : folders) spdlog::debug("plugin folder: {}", folder.string());
  plugins.set_options({global.allow_insecure_plugins});
  plugins.load_folders(folders);
  for (const auto& broken : plugins.broken()) spdlog::warn("plugin {} skipped: {}", broken.file.string(), broken.reason);
  for (const auto& warning : plugins.warnings()) spdlog::warn("{}", warning);
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

namespace {

// The tables the host itself reads, as `radpipe inspect` names them.
const char* const host_tables[] = {"[pipeline]", "[train]", "[evaluate]", "[route.NAME]"};

const Schema* host_table_schema(const std::string& table) {
  if (table == "[pipeline]") return &pipeline_table_schema();
  if (table == "[train]") return &train_table_schema();
  if (table == "[evaluate]") return &evaluate_table_schema();
  if (table == "[route.NAME]") return &chain_table_schema();
  return nullptr;
}

// "pipeline" for "[pipeline]", "route-name" for "[route.NAME]": an anchor in docs/stages.md.
std::string table_anchor(const std::string& table) {
  std::string anchor;
  for (char c : table.substr(1, table.size() - 2)) anchor += c == '.' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "host-" + anchor;
}

// "license MIT, vendor Acme, https://..., needs radpipe >= 0.2.0": what a plugin says about itself.
std::string metadata_line(const LoadedPlugin& plugin) {
  std::vector<std::string> parts{"SDK " + plugin.sdk_version};
  parts.push_back(plugin.license.empty() ? "license not declared" : "license " + plugin.license);
  if (!plugin.vendor.empty()) parts.push_back("vendor " + plugin.vendor);
  if (!plugin.url.empty()) parts.push_back(plugin.url);
  if (!plugin.min_host_version.empty()) parts.push_back("needs radpipe >= " + plugin.min_host_version);
  return join(parts);
}

nlohmann::json plugin_json(const LoadedPlugin& plugin) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& stage : plugin.stages)
    stages.push_back({{"kind", std::string(to_string(stage.kind))}, {"name", stage.name},
                      {"qualified", plugin.name + ":" + stage.name}, {"summary", stage.summary}});
  return {{"name", plugin.name},       {"version", plugin.version},         {"description", plugin.description},
          {"file", plugin.file.string()}, {"sdk_version", plugin.sdk_version}, {"abi_version", plugin.abi_version},
          {"license", plugin.license}, {"vendor", plugin.vendor},           {"url", plugin.url},
          {"min_host_version", plugin.min_host_version}, {"stages", stages}};
}

std::string clash_line(const StageClash& clash) {
  std::vector<std::string> plugins, qualified;
  for (const auto& entry : clash.entries) {
    plugins.push_back(entry.plugin->name);
    qualified.push_back("'" + qualified_name(entry) + "'");
  }
  return fmt::format("{} '{}' is registered by plugins {}: pipelines must name it {}", to_string(clash.kind), clash.name,
                     join(plugins), join(qualified, " or "));
}

const char* status_word(VerifyStatus status) {
  switch (status) {
  case VerifyStatus::Verified: return "OK";
  case VerifyStatus::Mismatch: return "MISMATCH";
  case VerifyStatus::Unlisted: return "UNLISTED";
  case VerifyStatus::Unreadable: return "UNREADABLE";
  }
  return "?";
}

int verify_plugins(const GlobalOptions& global, const PluginsOptions& options) {
  const auto list = read_checksum_list(options.verify);
  const auto files = plugin_files(plugin_search_path(global.plugin_paths));
  const auto results = verify_plugin_files(files, list);
  std::size_t failures = 0;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& result : results) {
    if (result.status != VerifyStatus::Verified) ++failures;
    std::string detail;
    if (result.status == VerifyStatus::Mismatch)
      detail = fmt::format("sha256 {}, but {}:{} lists {}", result.actual, options.verify.string(), result.listed->line, result.listed->sha256);
    else if (result.status == VerifyStatus::Unlisted)
      detail = fmt::format("sha256 {} is not in {}", result.actual, options.verify.string());
    else if (result.status == VerifyStatus::Unreadable)
      detail = result.problem;
    out.push_back({{"file", result.file.string()}, {"status", status_word(result.status)}, {"sha256", result.actual}, {"detail", detail}});
    if (!options.json)
      std::cout << fmt::format("{:<10} {}{}\n", status_word(result.status), result.file.string(), detail.empty() ? "" : "\n           " + detail);
  }
  if (options.json) std::cout << nlohmann::json{{"list", options.verify.string()}, {"files", out}}.dump(2) << '\n';
  else
    std::cout << fmt::format("{} plugin file{} checked against {}: {} verified, {} not\n", results.size(), results.size() == 1 ? "" : "s",
                             options.verify.string(), results.size() - failures, failures);
  return failures == 0 ? exit_ok : exit_invalid;
}

// A markdown table cell: pipes and line breaks would end the cell or the row.
std::string cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

void print_schema_markdown(std::ostream& out, const Schema& schema) {
  if (schema.specs().empty()) {
    out << "No parameters.\n\n";
    return;
  }
  out << "| key | type | default | constraints | description |\n|---|---|---|---|---|\n";
  for (const auto& spec : schema.specs())
    out << fmt::format("| `{}` | {} | {} | {} | {} |\n", spec.name, cell(std::string(to_string(spec.type))), cell(default_text(spec)),
                       cell(constraint_text(spec)), cell(spec.doc));
  out << '\n';
}

std::string plural_heading(StageKind kind) {
  std::string text(to_string(kind));
  text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  return text + "s";
}

// docs/stages.md: every stage of every plugin found and the host's tables, from the same schemas
// that validate pipeline files. Nothing machine-specific (no paths), so the file can be checked in.
void print_stage_reference(std::ostream& out, const PluginHost& plugins) {
  out << "<!-- Generated by `radpipe inspect --all --markdown` from the stages' schemas: do not edit.\n"
         "     Regenerate after changing a stage: cmake --build build --target update_stage_docs -->\n"
         "# Stage reference\n\n"
         "Every stage of the plugins built with radpipe, and the tables the host itself reads. A pipeline names a stage\n"
         "with `stage = \"NAME\"`, or `stage = \"PLUGIN:NAME\"` when two plugins register the same name for the same kind.\n"
         "`radpipe inspect NAME` prints the same table for one stage, `radpipe plugins` lists what is installed.\n"
         "A key whose default is `(required)` must be set; `(optional)` may be left out and then has no value.\n"
         "Besides its stage's keys, a stage table holds `stage` and the keys radpipe itself reads for that kind of\n"
         "stage, listed at the start of each kind's section; no stage may declare them.\n\n";
  std::map<StageKind, std::vector<StageEntry>> by_kind;
  for (const auto& plugin : plugins.plugins())
    for (const auto& stage : plugin->stages) by_kind[stage.kind].push_back({plugin.get(), &stage});
  for (auto& [kind, entries] : by_kind)
    std::sort(entries.begin(), entries.end(), [](const StageEntry& a, const StageEntry& b) {
      return std::tie(a.stage->name, a.plugin->name) < std::tie(b.stage->name, b.plugin->name);
    });

  out << "## Contents\n\n- [Host tables](#host-tables): ";
  std::vector<std::string> links;
  for (const char* table : host_tables) links.push_back(fmt::format("[`{}`](#{})", table, table_anchor(table)));
  out << join(links) << '\n';
  for (const auto& [kind, entries] : by_kind) {
    links.clear();
    for (const auto& entry : entries)
      links.push_back(fmt::format("[`{}`](#{}-{}-{})", entry.stage->name, to_string(kind), entry.plugin->name, entry.stage->name));
    out << fmt::format("- {}: {}\n", plural_heading(kind), join(links));
  }

  out << "\n## Host tables\n\n";
  for (const char* table : host_tables) {
    out << fmt::format("<a id=\"{}\"></a>\n\n### `{}`\n\n", table_anchor(table), table);
    print_schema_markdown(out, *host_table_schema(table));
  }
  for (const auto& [kind, entries] : by_kind) {
    out << "## " << plural_heading(kind) << "\n\n";
    if (const Schema& host = host_keys_for(kind); !host.specs().empty()) {
      out << fmt::format("Keys radpipe itself reads in every {} table, whichever stage it names:\n\n", to_string(kind));
      print_schema_markdown(out, host);
    }
    for (const auto& entry : entries) {
      out << fmt::format("<a id=\"{}-{}-{}\"></a>\n\n### `{}`\n\n{}\n\nPlugin `{}` {}; `radpipe inspect {}/{}`.\n\n", to_string(kind),
                         entry.plugin->name, entry.stage->name, entry.stage->name, entry.stage->summary, entry.plugin->name,
                         entry.plugin->version, to_string(kind), qualified_name(entry));
      print_schema_markdown(out, entry.stage->schema);
    }
  }
}

} // namespace

int command_plugins(const GlobalOptions& global, const PluginsOptions& options) {
  if (!options.verify.empty()) return verify_plugins(global, options);
  PluginHost plugins;
  load_plugins(plugins, global);
  const auto folders = plugin_search_path(global.plugin_paths);
  const auto clashes = plugins.clashes();
  if (options.json) {
    nlohmann::json host{{"version", RADPIPE_SDK_VERSION_STRING}, {"sdk_version", RADPIPE_SDK_VERSION_STRING},
                        {"abi_version", RADPIPE_ABI_VERSION}, {"fingerprint", RADPIPE_BUILD_FINGERPRINT},
                        {"search_path", nlohmann::json::array()}};
    for (const auto& folder : folders) host["search_path"].push_back(folder.string());
    nlohmann::json out{{"host", host}, {"plugins", nlohmann::json::array()}, {"clashes", nlohmann::json::array()},
                       {"broken", nlohmann::json::array()}, {"warnings", plugins.warnings()}};
    for (const auto& plugin : plugins.plugins()) out["plugins"].push_back(plugin_json(*plugin));
    for (const auto& clash : clashes) {
      nlohmann::json qualified = nlohmann::json::array();
      for (const auto& entry : clash.entries) qualified.push_back(qualified_name(entry));
      out["clashes"].push_back({{"kind", std::string(to_string(clash.kind))}, {"name", clash.name}, {"qualified", qualified}});
    }
    for (const auto& broken : plugins.broken()) out["broken"].push_back({{"file", broken.file.string()}, {"reason", broken.reason}});
    std::cout << out.dump(2) << '\n';
    return exit_ok;
  }
  std::vector<std::string> folder_names;
  for (const auto& folder : folders) folder_names.push_back(folder.string());
  std::cout << fmt::format("radpipe {} (SDK {}, plugin ABI {}); plugin folders: {}\n\n", RADPIPE_SDK_VERSION_STRING,
                           RADPIPE_SDK_VERSION_STRING, RADPIPE_ABI_VERSION, join(folder_names));
  if (plugins.plugins().empty()) std::cout << "no plugins found (searched --plugin-path, RADPIPE_PLUGIN_PATH and the installation)\n";
  for (const auto& plugin : plugins.plugins()) {
    std::cout << fmt::format("{} {}  {}\n  {}\n  {}\n", plugin->name, plugin->version, plugin->description, plugin->file.string(),
                             metadata_line(*plugin));
    for (const auto& stage : plugin->stages)
      std::cout << fmt::format("    {:<11} {:<18} {}\n", to_string(stage.kind), stage.name, stage.summary);
  }
  for (const auto& clash : clashes) std::cout << "CLASH " << clash_line(clash) << '\n';
  for (const auto& broken : plugins.broken()) std::cout << fmt::format("BROKEN {}\n  {}\n", broken.file.string(), broken.reason);
  for (const auto& warning : plugins.warnings()) std::cout << "WARNING " << warning << '\n';
  return exit_ok;
}

int command_inspect(const GlobalOptions& global, const InspectOptions& options) {
  if (options.all) {
    PluginHost plugins;
    load_plugins(plugins, global);
    if (options.markdown) {
      print_stage_reference(std::cout, plugins);
      return exit_ok;
    }
    nlohmann::json tables = nlohmann::json::array(), stages = nlohmann::json::array();
    for (const char* table : host_tables) tables.push_back({{"table", table}, {"parameters", schema_json(*host_table_schema(table))}});
    for (const auto& plugin : plugins.plugins())
      for (const auto& stage : plugin->stages)
        stages.push_back({{"name", stage.name}, {"kind", std::string(to_string(stage.kind))}, {"summary", stage.summary},
                          {"plugin", plugin->name}, {"plugin_version", plugin->version}, {"parameters", schema_json(stage.schema)},
                          {"host_parameters", schema_json(host_keys_for(stage.kind))}});
    if (options.json) std::cout << nlohmann::json{{"tables", tables}, {"stages", stages}}.dump(2) << '\n';
    else {
      for (const char* table : host_tables) {
        std::cout << table << " table of pipeline files\n";
        print_schema_table(*host_table_schema(table));
        std::cout << '\n';
      }
      for (const auto& plugin : plugins.plugins())
        for (const auto& stage : plugin->stages) {
          std::cout << fmt::format("{} {} (plugin {} {})\n  {}\n", to_string(stage.kind), stage.name, plugin->name, plugin->version,
                                   stage.summary);
          if (stage.schema.specs().empty()) std::cout << "  (no parameters)\n";
          else print_schema_table(stage.schema);
          std::cout << '\n';
        }
    }
    return exit_ok;
  }
  const std::string& stage_name = options.stage;
  // The host's own tables can be inspected too: "[pipeline]", "[train]", "[evaluate]".
  if (const Schema* schema = host_table_schema(stage_name)) {
    if (options.json) std::cout << nlohmann::json{{"table", stage_name}, {"parameters", schema_json(*schema)}}.dump(2) << '\n';
    else if (options.markdown) print_schema_markdown(std::cout, *schema);
    else {
      std::cout << stage_name << " table of pipeline files\n";
      print_schema_table(*schema);
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
    if (options.json) {
      out.push_back({{"name", entry.stage->name}, {"kind", std::string(to_string(entry.stage->kind))}, {"summary", entry.stage->summary},
                     {"plugin", entry.plugin->name}, {"plugin_version", entry.plugin->version}, {"qualified", qualified_name(entry)},
                     {"parameters", schema_json(entry.stage->schema)}, {"host_parameters", schema_json(host_keys_for(entry.stage->kind))}});
      continue;
    }
    if (options.markdown) {
      std::cout << fmt::format("### `{}`\n\n{}\n\nPlugin `{}` {}.\n\n", qualified_name(entry), entry.stage->summary, entry.plugin->name,
                               entry.plugin->version);
      print_schema_markdown(std::cout, entry.stage->schema);
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
  if (options.json) std::cout << (out.size() == 1 ? out[0] : out).dump(2) << '\n';
  return exit_ok;
}

std::optional<PipelineConfig> validate_or_report(const fs::path& pipeline, const PluginHost& plugins,
                                                 const std::vector<std::string>& overrides) {
  ValidationResult result = load_pipeline(pipeline, plugins, overrides);
  for (const auto& diagnostic : result.diagnostics) std::cerr << format(diagnostic) << '\n';
  if (!result.diagnostics.empty())
    std::cerr << fmt::format("{}: {} problem{} found\n", pipeline.string(), result.diagnostics.size(),
                             result.diagnostics.size() == 1 ? "" : "s");
  return std::move(result.config);
}

int command_check(const GlobalOptions& global, const fs::path& pipeline) {
  PluginHost plugins;
  load_plugins(plugins, global);
  auto config = validate_or_report(pipeline, plugins, global.overrides);
  if (!config) return exit_invalid;
  std::vector<std::string> chains;
  for (const auto& chain : config->chains) {
    const std::string scoring = scoring_summary(chain);
    chains.push_back(fmt::format("{} ({}{}{})", chain.name, chain.model.entry.stage->name,
                                 chain.preprocess.empty() ? "" : fmt::format(", {} own step{}", chain.preprocess.size(), chain.preprocess.size() == 1 ? "" : "s"),
                                 scoring.empty() ? "" : ", " + scoring));
  }
  std::cout << fmt::format("{}: valid pipeline '{}': reader {}, {} shared preprocessing step{}, {} chain{}: {}{}, aggregator {}\n",
                           pipeline.string(), config->settings.string("name"), config->reader.entry.stage->name, config->preprocess.size(),
                           config->preprocess.size() == 1 ? "" : "s", chains.size(), chains.size() == 1 ? "" : "s", join(chains),
                           config->route ? fmt::format("; routed by {}", config->route->router.entry.stage->name) : "",
                           config->aggregate.entry.stage->name);
  if (!config->outputs.empty()) {
    std::vector<std::string> outputs;
    for (const auto& output : config->outputs) outputs.push_back(output.entry.stage->name);
    std::cout << fmt::format("  output{}: {}\n", outputs.size() == 1 ? "" : "s", join(outputs));
  }
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
  auto config = validate_or_report(options.pipeline, plugins, global.overrides);
  if (!config) return exit_invalid;
  prepare_output_folder(options.out_dir, "--out");

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
  build.selected_weights = options.selected_weights;
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
  output_options.commit_interval = std::chrono::duration<double>(options.commit_seconds);
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
  for (const StageConfig* output : outputs.heatmap_outputs()) {
    if (pipeline.explainer() != nullptr) {
      inference.heatmaps = true;
      continue;
    }
    spdlog::warn("{}: [{}] ({}) draws where the model looked, but the pipeline has no [explain] table: its pictures carry no "
                 "heatmap. Add\n  [explain]\n  stage = \"gradcam\"\nor set overlay = false there",
                 format_location(output->where), output->table, output->entry.stage->name);
  }
  if (inference.heatmaps)
    spdlog::info("heatmaps for {}: the [explain] stage ({}) runs with every batch", outputs.heatmap_outputs().front()->table,
                 pipeline.explainer()->entry.stage->name);
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
  if (outputs.images() == 0 && !summary.skipped.empty()) {
    spdlog::error("no image could be scored ({} skipped)", summary.skipped.size());
    return exit_invalid;
  }
  // A reader that lists nothing (a nightly run with no new study) is a run with nothing to do.
  if (outputs.images() == 0) spdlog::info("the reader listed no image: nothing to score");
  return exit_ok;
}

} // namespace radpipe::host
