// The `text_labels` plugin: masking of burned-in text labels.
#include <radpipe/plugin.hpp>

#include "mask_text_labels.hpp"

namespace {
void register_text_labels(radpipe::PluginRegistrar& registrar) {
  using radpipe::text_labels::MaskTextLabels;
  registrar.add<MaskTextLabels>("mask_text_labels",
                                "Find burned-in text labels (R/L, captions, marker plates) and cover them",
                                MaskTextLabels::schema());
}
} // namespace

RADPIPE_PLUGIN("text_labels", "0.1.0", "Masking of burned-in text labels", register_text_labels)
