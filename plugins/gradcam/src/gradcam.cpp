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

namespace {

// The model's last feature map for `images` and the gradient of the target logit with respect
// to it, both detached.
struct Evidence {
  torch::Tensor features;  // [N, C, h, w]
  torch::Tensor gradients; // same shape
};

Evidence evidence_for(Model& model, const torch::Tensor& images, int target, const char* method) {
  if (images.dim() != 4) throw StageError("", std::string(method) + " takes images as [N, C, H, W]");
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
    throw StageError("", std::string("the model returns no [N, C, h, w] feature map; ") + method + " needs a convolutional model");
  const auto score = output.logits.dim() == 1 ? output.logits : output.logits.select(1, target);
  auto gradients = torch::autograd::grad({score.sum()}, {output.features}, {}, /*retain_graph=*/false,
                                         /*create_graph=*/false, /*allow_unused=*/true)[0];
  if (!gradients.defined())
    throw StageError("", "the model's feature map does not lead to its logits, so it has no gradient to weight it by");
  return {output.features.detach(), gradients.detach()};
}

// [N, 1, h, w] maps to [N, H, W] float32 on the CPU at the input's size.
torch::Tensor to_input_size(const torch::Tensor& maps, const torch::Tensor& images) {
  auto heat = torch::nn::functional::interpolate(maps, torch::nn::functional::InterpolateFuncOptions()
                                                           .size(std::vector<std::int64_t>{images.size(2), images.size(3)})
                                                           .mode(torch::kBilinear)
                                                           .align_corners(false));
  return heat.squeeze(1).to(torch::kCPU, torch::kFloat32);
}

// Divides each map (or the batch) by its maximum; a map with no positive evidence stays zero
// rather than being blown up from noise.
torch::Tensor scale_by_peak(torch::Tensor heat, bool per_image) {
  const auto peak = per_image ? std::get<0>(heat.flatten(1).max(1)).view({-1, 1, 1}) : heat.max().view({1, 1, 1});
  heat = torch::where(peak > 0, heat / peak.clamp_min(1e-12), torch::zeros_like(heat));
  return heat.clamp(0.0, 1.0).contiguous();
}

} // namespace

torch::Tensor GradCam::explain(Model& model, const torch::Tensor& images, int target) {
  Evidence evidence = evidence_for(model, images, target, "Grad-CAM");
  torch::NoGradGuard no_more_gradients;
  auto heat = torch::relu((channel_weights(evidence.gradients, evidence.features, weighting_) * evidence.features).sum(1, /*keepdim=*/true));
  return scale_by_peak(to_input_size(heat, images), normalize_);
}

Schema Cam::schema() {
  Schema schema;
  schema.add(ParamSpec::string("scaling",
                               "min_max: each map stretched from its minimum to its maximum (as the CAM paper shows them); "
                               "positive: negative evidence cut to 0, then each map divided by its maximum (as Grad-CAM)")
                 .with_default("min_max")
                 .one_of({"min_max", "positive"}));
  return schema;
}

Cam::Cam(const Params& params, const StageContext& /*context*/) : min_max_(params.string("scaling") == "min_max") {}

torch::Tensor Cam::explain(Model& model, const torch::Tensor& images, int target) {
  if (images.dim() != 4) throw StageError("", "CAM takes images as [N, C, H, W]");
  // A blank image rides along: a linear head gives it the same class weights as every image.
  const auto count = images.size(0);
  Evidence evidence = evidence_for(model, torch::cat({images, torch::zeros_like(images.slice(0, 0, 1))}), target, "CAM");
  torch::NoGradGuard no_more_gradients;
  const auto& gradients = evidence.gradients;
  const double largest = gradients.abs().max().item<double>();
  // Global average pooling spreads d logit / d pooled_c evenly: gradients constant over each map.
  const double uneven = (gradients - gradients.mean({2, 3}, /*keepdim=*/true)).abs().max().item<double>();
  if (uneven > 1e-4 * largest + 1e-12)
    throw StageError("", "CAM needs a model that averages its last feature map globally before the head; this one's gradient varies "
                         "over the map: use stage = \"gradcam\"");
  // The class weight of each channel: d logit / d pooled_c = h w * d logit / d A_c(i, j).
  const auto weights = gradients.sum({2, 3});
  const double spread = (weights.slice(0, 0, count) - weights.slice(0, count, count + 1)).abs().max().item<double>();
  if (spread > 1e-4 * weights.abs().max().item<double>() + 1e-12)
    throw StageError("", "CAM needs a head that is one linear layer on the pooled features (hidden = []); this model's channel "
                         "weights change with the image: use stage = \"gradcam\"");
  auto maps = (weights.slice(0, 0, count).view({count, -1, 1, 1}) * evidence.features.slice(0, 0, count)).sum(1, /*keepdim=*/true);
  // Positive evidence is cut before the map is enlarged, as Grad-CAM does, so that both agree.
  if (!min_max_) return scale_by_peak(to_input_size(torch::relu(maps), images), true);
  auto heat = to_input_size(maps, images);
  const auto flat = heat.flatten(1);
  const auto low = std::get<0>(flat.min(1)).view({-1, 1, 1}), high = std::get<0>(flat.max(1)).view({-1, 1, 1});
  const auto range = high - low;
  heat = torch::where(range > 0, (heat - low) / range.clamp_min(1e-12), torch::zeros_like(heat));
  return heat.clamp(0.0, 1.0).contiguous();
}

} // namespace radpipe::gradcam
