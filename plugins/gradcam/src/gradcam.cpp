#include "gradcam.hpp"

#include <radpipe/error.hpp>

#include <torch/torch.h>

namespace radpipe::gradcam {

Schema GradCam::schema() {
  Schema schema;
  schema.add(ParamSpec::string("weighting", "Channel weights: \"mean\" gradient (Grad-CAM) or \"plusplus\" (Grad-CAM++)")
                 .with_default("mean")
                 .one_of({"mean", "plusplus"}));
  schema.add(ParamSpec::boolean("normalize", "Scale each heatmap to [0, 1] by its own maximum (false: by the batch's maximum)")
                 .with_default(true));
  return schema;
}

GradCam::GradCam(const Params& params, const StageContext& /*context*/)
    : weighting_(params.string("weighting") == "plusplus" ? Weighting::PlusPlus : Weighting::Mean),
      normalize_(params.boolean("normalize")) {}

namespace {

torch::Tensor channel_weights(const torch::Tensor& gradients, const torch::Tensor& features, Weighting weighting) {
  if (weighting == Weighting::Mean) return gradients.mean({2, 3}, /*keepdim=*/true);
  // Grad-CAM++ with the exponential-output closed form: alpha = g^2 / (2 g^2 + sum(A) g^3).
  const auto squared = gradients.pow(2);
  const auto cubed = gradients.pow(3);
  const auto activation_sum = features.sum({2, 3}, /*keepdim=*/true);
  auto denominator = 2 * squared + activation_sum * cubed;
  denominator = torch::where(denominator != 0, denominator, torch::ones_like(denominator));
  const auto alpha = squared / denominator;
  return (alpha * torch::relu(gradients)).sum({2, 3}, /*keepdim=*/true);
}

} // namespace

torch::Tensor GradCam::explain(Model& model, const torch::Tensor& images, int target) {
  if (images.dim() != 4) throw StageError("", "Grad-CAM takes images as [N, C, H, W]");
  const int outputs = model.num_outputs();
  if (target < 0 || target >= std::max(outputs, 1) || (outputs == 1 && target != 0))
    throw StageError("", "target class " + std::to_string(target) + " is out of range for a model with " + std::to_string(outputs) +
                             " output(s)");

  // Gradients must flow even when the caller is in a no-grad scope or every layer is frozen:
  // asking for the input's gradient keeps the graph from the input to the feature map.
  torch::AutoGradMode gradients_on(true);
  auto input = images.detach().clone().set_requires_grad(true);
  ModelOutput output = model.forward(input);
  if (!output.features.defined() || output.features.dim() != 4)
    throw StageError("", "the model returns no [N, C, h, w] feature map; Grad-CAM needs a convolutional model");
  const auto score = output.logits.dim() == 1 ? output.logits : output.logits.select(1, target);
  auto gradients = torch::autograd::grad({score.sum()}, {output.features}, {}, /*retain_graph=*/false,
                                         /*create_graph=*/false, /*allow_unused=*/true)[0];
  if (!gradients.defined())
    throw StageError("", "the model's feature map does not lead to its logits, so it has no gradient to weight it by");

  torch::NoGradGuard no_more_gradients;
  const auto features = output.features.detach();
  gradients = gradients.detach();
  auto heat = torch::relu((channel_weights(gradients, features, weighting_) * features).sum(1, /*keepdim=*/true));
  heat = torch::nn::functional::interpolate(
      heat, torch::nn::functional::InterpolateFuncOptions()
                .size(std::vector<std::int64_t>{images.size(2), images.size(3)})
                .mode(torch::kBilinear)
                .align_corners(false));
  heat = heat.squeeze(1).to(torch::kCPU, torch::kFloat32);
  // A map with no positive evidence stays all zero rather than being blown up from noise.
  const auto peak = normalize_ ? std::get<0>(heat.flatten(1).max(1)).view({-1, 1, 1}) : heat.max().view({1, 1, 1});
  heat = torch::where(peak > 0, heat / peak.clamp_min(1e-12), torch::zeros_like(heat));
  return heat.clamp(0.0, 1.0).contiguous();
}

} // namespace radpipe::gradcam
