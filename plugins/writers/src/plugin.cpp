// The `writers` plugin: the files predict makes from [[output]] tables.
#include <radpipe/plugin.hpp>

#include "writers.hpp"

namespace {
void register_writers(radpipe::PluginRegistrar& registrar) {
  using namespace radpipe::writers;
  registrar.add<Csv>("csv", "predictions.csv (a row per image) and studies.csv (a row per study)",
                     Csv::schema());
  registrar.add<Jsonl>("jsonl", "One JSON object per image and per study, with every metadata field",
                       Jsonl::schema());
  registrar.add<MuraSubmission>("mura_submission",
                                "MURA's submission file: \"study path,predicted\" per study, no header",
                                MuraSubmission::schema());
}
} // namespace

RADPIPE_PLUGIN("writers", "0.1.0", "Result files, streamed in whole lines", register_writers)
