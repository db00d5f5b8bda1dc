// The `routers` plugin: which model chain scores each study.
#include <radpipe/plugin.hpp>

#include "routers.hpp"

namespace {
void register_routers(radpipe::PluginRegistrar& registrar) {
  using namespace radpipe::routers;
  registrar.add<ByField>("by_field", "Routes each study by a sample field or DICOM tag (body part, view, a CSV column)", ByField::schema());
  registrar.add<Classifier>("classifier", "Routes each study by the class a consulted classifier chain predicts for it",
                            Classifier::schema());
}
} // namespace

RADPIPE_PLUGIN("routers", "0.1.0", "Routing of studies to model chains", register_routers)
