// What served each stage of a run: plugin, its version and file, and the file's SHA-256, so that
// a run record says exactly which code produced its results.
#pragma once

#include <nlohmann/json.hpp>

#include "pipeline_config.hpp"

namespace radpipe::host {

// One object per configured stage, in pipeline order: {"table", "kind", "stage" (qualified as
// plugin:stage), "plugin", "plugin_version", "sdk_version", "file", "sha256"}.
nlohmann::json stage_provenance(const PipelineConfig& config);

} // namespace radpipe::host
