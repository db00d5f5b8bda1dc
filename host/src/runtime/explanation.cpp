#include "runtime/explanation.hpp"

#include "runtime/ensemble.hpp"
#include "runtime/inference.hpp"
#include "runtime/tensor.hpp"

#include <radpipe/geometry.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace radpipe::host {

ExplainedBatch explain_samples(Chain& chain, Built<Explainer>& explainer, std::span<const Sample> batch) {
  ExplainedBatch out;
  out.input = samples_to_tensor(batch, chain.model.stage->input_channels());
  out.probabilities = chain_probabilities_of_input(chain, out.input);
  // Multi-class chains explain each image's predicted class, from the chain's averaged scores.
  const torch::Tensor predicted = chain.multiclass() ? out.probabilities.argmax(1) : torch::Tensor();
  const auto explain = [&](Built<Model>& model, const torch::Tensor& input) {
    torch::Tensor heat;
    if (chain.multiclass()) {
      std::vector<torch::Tensor> maps;
      for (long n = 0; n < input.size(0); ++n)
        maps.push_back(call_plugin(explainer.entry, [&] {
          return explainer.stage->explain(*model.stage, input.narrow(0, n, 1).to(chain.device), static_cast<int>(predicted[n].item<long>()));
        }));
      heat = torch::cat(maps, 0);
    } else {
      heat = call_plugin(explainer.entry, [&] { return explainer.stage->explain(*model.stage, input.to(chain.device), 0); });
    }
    heat = heat.to(torch::kCPU, torch::kFloat32).contiguous();
    if (heat.dim() != 3 || heat.size(0) != input.size(0) || heat.size(1) != input.size(2) || heat.size(2) != input.size(3))
      throw PluginError(PluginHost::describe(explainer.entry, "") + "returned heatmaps of shape " +
                        fmt::format("{}", fmt::join(heat.sizes(), "x")) + "; expected [N, H, W] matching the input");
    return heat;
  };
  out.heat = averaged_heatmaps(chain, out.input, explain);
  return out;
}

namespace {

cv::Mat as_mat(const torch::Tensor& heat, torch::Tensor& keep_alive) {
  keep_alive = heat.to(torch::kCPU, torch::kFloat32).contiguous();
  return cv::Mat(static_cast<int>(keep_alive.size(0)), static_cast<int>(keep_alive.size(1)), CV_32F, keep_alive.data_ptr<float>());
}

// `to_output` takes decoded-image coordinates to the input's: the inverse map warpAffine wants.
cv::Mat warp_onto(const cv::Mat& map, const cv::Matx23d& decoded_to_input, cv::Size size) {
  cv::Mat out;
  cv::warpAffine(map, out, cv::Mat(decoded_to_input), size, cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT, 0.0);
  return out;
}

} // namespace

cv::Mat heatmap_at_source(const torch::Tensor& heat, const SampleInfo& info, cv::Size decoded, bool& stretched) {
  torch::Tensor storage;
  const cv::Mat map = as_mat(heat, storage);
  stretched = false;
  if (auto geometry = recorded_geometry(info, map.size(), decoded)) return warp_onto(map, geometry->to_output, decoded);
  cv::Mat out;
  cv::resize(map, out, decoded, 0, 0, cv::INTER_LINEAR);
  stretched = true;
  return out;
}

cv::Mat heatmap_on_decoded_frame(const torch::Tensor& heat, const SampleInfo& info, int max_side, bool& stretched) {
  torch::Tensor storage;
  const cv::Mat map = as_mat(heat, storage);
  stretched = false;
  cv::Size decoded = map.size(); // no record: nothing changed the size
  cv::Matx23d decoded_to_input(1, 0, 0, 0, 1, 0);
  if (auto found = info.tags.find(geometry_tag); found != info.tags.end()) {
    auto geometry = geometry_detail::parse(found->second);
    if (!geometry || geometry->output != map.size()) {
      stretched = true;
      return map.clone();
    }
    decoded = geometry->source;
    decoded_to_input = geometry->to_output;
  }
  const double scale = std::min(1.0, static_cast<double>(max_side) / std::max(decoded.width, decoded.height));
  const cv::Size frame(std::max(1, static_cast<int>(std::lround(decoded.width * scale))),
                       std::max(1, static_cast<int>(std::lround(decoded.height * scale))));
  // frame -> decoded (the inverse of scaling by the frame's own ratios), then decoded -> input.
  const double sx = static_cast<double>(frame.width) / decoded.width, sy = static_cast<double>(frame.height) / decoded.height;
  const cv::Matx23d frame_to_decoded = scale_then_shift(1.0 / sx, 1.0 / sy, 0.0, 0.0);
  const cv::Matx33d first(frame_to_decoded(0, 0), frame_to_decoded(0, 1), frame_to_decoded(0, 2), frame_to_decoded(1, 0),
                          frame_to_decoded(1, 1), frame_to_decoded(1, 2), 0, 0, 1);
  const cv::Matx33d second(decoded_to_input(0, 0), decoded_to_input(0, 1), decoded_to_input(0, 2), decoded_to_input(1, 0),
                           decoded_to_input(1, 1), decoded_to_input(1, 2), 0, 0, 1);
  const cv::Matx33d both = second * first;
  return warp_onto(map, cv::Matx23d(both(0, 0), both(0, 1), both(0, 2), both(1, 0), both(1, 1), both(1, 2)), frame);
}

} // namespace radpipe::host
