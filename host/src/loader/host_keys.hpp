// Keys the host itself reads from a stage's table, declared as schemas like a stage's own, so that
// `radpipe inspect` shows them and the validator checks them. A plugin whose stage schema declares
// one of these names for its kind is refused when it loads: the key would mean two things.
#pragma once

#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::host {

// The host's keys of a stage table of `kind` (besides `stage`): device, classes, target, ensemble,
// average and the tta_ keys for models, threshold for aggregators, fallback, on_unknown, consult, train_by and max_study_images
// for routers; empty for the other kinds.
const Schema& host_keys_for(StageKind kind);

// The host's keys of a route's chain table, [route.NAME]: batch_size and match.
const Schema& chain_table_schema();

} // namespace radpipe::host
