// Pipeline files: a TOML document validated in full against the host's own tables and every
// named stage's schema before any stage is built. Every problem is collected, not just the first.
#pragma once

#include "diagnostics.hpp"
#include "plugin_host.hpp"

#include <radpipe/schema.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace radpipe::host {

// One stage as a pipeline file configures it, ready to build.
struct StageConfig {
  std::string table;  // where it was configured: "reader", "preprocess[2]", "route.hand.model", ...
  StageEntry entry;
  Params params;      // validated, defaults applied, paths resolved
  SourceLocation where;
  std::map<std::string, SourceLocation> key_locations; // where each key of the table is set
};

struct ModelChainConfig {
  std::string name;   // "default", or the route value it serves ("hand")
  StageConfig model;
  std::string device; // "auto", "cpu", "cuda", "cuda:N"
};

struct PipelineConfig {
  std::filesystem::path file;
  std::filesystem::path folder; // relative paths in the file resolve against this
  Params settings;              // the [pipeline] table
  StageConfig reader;
  std::vector<StageConfig> preprocess;
  ModelChainConfig model;
  std::string route_by;                 // empty: no routing
  std::vector<ModelChainConfig> routes; // one per routed value
  StageConfig aggregate;
  double threshold = 0.5;
  std::optional<Params> train;          // the [train] table, when present
  std::optional<StageConfig> explain;   // the [explain] table (an Explainer stage), when present
  Params evaluate;                      // the [evaluate] table; its defaults when absent
  std::vector<std::string> overrides;   // the `--set KEY=VALUE` texts applied to the file, in order
};

struct ValidationResult {
  std::optional<PipelineConfig> config; // set only when there are no diagnostics
  std::vector<Diagnostic> diagnostics;
};

// Schemas of the tables the host itself reads; `radpipe inspect` shows them too.
const Schema& pipeline_table_schema();
const Schema& train_table_schema();
const Schema& evaluate_table_schema();

// `overrides` are `--set KEY=VALUE` texts, applied to the document before validation (overrides.hpp).
ValidationResult load_pipeline(const std::filesystem::path& file, const PluginHost& plugins,
                               const std::vector<std::string>& overrides = {});
// Validates TOML text as if it had been read from `file` (used by tests and `check -`).
ValidationResult parse_pipeline(std::string_view text, const std::filesystem::path& file, const PluginHost& plugins,
                                const std::vector<std::string>& overrides = {});

} // namespace radpipe::host
