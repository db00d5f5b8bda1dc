// The Explainer stages of the gradcam plugin. Both weight the channels of the model's last
// convolutional feature map by the gradient of the target logit and keep the positive evidence:
//   Grad-CAM   (Selvaraju et al. 2017): weight_c = mean over positions of dY/dA_c
//   Grad-CAM++ (Chattopadhay et al. 2018): weight_c = sum over positions of alpha * relu(dY/dA_c),
//              with alpha from the second and third powers of the gradient, which spreads the map
//              over several instances of the evidence (two fracture lines, say).
#pragma once

#include <radpipe/model.hpp>
#include <radpipe/schema.hpp>

namespace radpipe::gradcam {

enum class Weighting { Mean, PlusPlus };

class GradCam final : public radpipe::Explainer {
public:
  GradCam(const Params& params, const StageContext& context);
  static Schema schema();

  // Heatmaps [N, H, W] float32 on the CPU in [0, 1], at the input's resolution. For a model with
  // one output, `target` must be 0 and the map explains the positive (abnormal) logit.
  torch::Tensor explain(Model& model, const torch::Tensor& images, int target) override;

private:
  Weighting weighting_;
  bool normalize_;
};

// CAM (Zhou et al. 2016) for models that average their last feature map globally and score it
// with one linear layer: map = sum_c w_c A_c, with w_c the head's weight of channel c, so that the
// map's spatial mean plus the head's bias is the logit itself. The weights are read off the
// gradient (d logit / d pooled_c), and a model whose gradient shows a non-linear head or another
// pooling is refused, as CAM is not defined for it.
class Cam final : public radpipe::Explainer {
public:
  Cam(const Params& params, const StageContext& context);
  static Schema schema();

  torch::Tensor explain(Model& model, const torch::Tensor& images, int target) override;

private:
  bool min_max_;
};

} // namespace radpipe::gradcam
