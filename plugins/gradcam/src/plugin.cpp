// The gradcam plugin: the entry symbol and the registration of its Explainer stage.
#include "gradcam.hpp"

#include <radpipe/plugin.hpp>

namespace {

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<radpipe::gradcam::GradCam>(
      "gradcam", "Grad-CAM / Grad-CAM++ heatmap of the evidence for a class, on the model's last feature map",
      radpipe::gradcam::GradCam::schema());
  registrar.add<radpipe::gradcam::Cam>(
      "cam", "CAM: the head's class weights times the last feature map, for globally pooled models with a linear head",
      radpipe::gradcam::Cam::schema());
}

} // namespace

RADPIPE_PLUGIN("gradcam", "0.1.0", "Explainers: where a model looked (Grad-CAM, Grad-CAM++, CAM)", register_stages)
