#include "runtime/stage_provenance.hpp"

#include <map>

#include "loader/sha256.hpp"

namespace radpipe::host {

nlohmann::json stage_provenance(const PipelineConfig& config) {
  // In pipeline order; a chain without an [aggregate] of its own shares the pipeline's, listed once.
  std::vector<const StageConfig*> stages{&config.reader};
  for (const auto& step : config.preprocess) stages.push_back(&step);
  if (config.route) stages.push_back(&config.route->router);
  for (const auto& chain : config.chains) {
    for (const auto& step : chain.preprocess) stages.push_back(&step);
    stages.push_back(&chain.model);
    if (chain.aggregate.table != config.aggregate.table) stages.push_back(&chain.aggregate);
  }
  stages.push_back(&config.aggregate);
  if (config.explain) stages.push_back(&*config.explain);

  std::map<std::filesystem::path, std::string> digests; // each plugin file is hashed once
  nlohmann::json out = nlohmann::json::array();
  for (const StageConfig* stage : stages) {
    const LoadedPlugin& plugin = *stage->entry.plugin;
    auto [digest, inserted] = digests.emplace(plugin.file, std::string());
    if (inserted) {
      try {
        digest->second = sha256_of_file(plugin.file);
      } catch (const std::exception&) {
        digest->second = ""; // the library is loaded; its file may have been replaced since
      }
    }
    out.push_back({{"table", stage->table},
                   {"kind", std::string(to_string(stage->entry.stage->kind))},
                   {"stage", qualified_name(stage->entry)},
                   {"plugin", plugin.name},
                   {"plugin_version", plugin.version},
                   {"sdk_version", plugin.sdk_version},
                   {"file", plugin.file.string()},
                   {"sha256", digest->second}});
  }
  return out;
}

} // namespace radpipe::host
