// What served each stage of a run: plugin, its version and file, and the file's SHA-256, so that
// a run record says exactly which code produced its results.
#pragma once

#include <nlohmann/json.hpp>

#include "config/pipeline_config.hpp"

namespace radpipe::host {

// One object per configured stage, in pipeline order (reader, shared preprocessing, router, each
// chain's steps, model and own aggregator, the pipeline's aggregator, explainer): {"table",
// "kind", "stage" (qualified as plugin:stage), "plugin", "plugin_version", "sdk_version", "file",
// "sha256"}.
nlohmann::json stage_provenance(const PipelineConfig& config);

} // namespace radpipe::host
