#include "runtime/tta.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <stdexcept>
#include <utility>

namespace radpipe::host {

TestTimeAugmentation TestTimeAugmentation::from(const Params& model_host) {
  TestTimeAugmentation tta;
  if (model_host.has("tta_flips"))
    for (const auto& flip : model_host.strings("tta_flips")) {
      if (flip == "horizontal") tta.horizontal_flip = true;
      if (flip == "vertical") tta.vertical_flip = true;
    }
  if (model_host.has("tta_shift")) tta.shift = static_cast<int>(model_host.integer("tta_shift"));
  if (model_host.has("tta_crop")) tta.crop = model_host.real("tta_crop");
  return tta;
}

Averaging averaging_from(const Params& model_host) {
  return model_host.has("average") && model_host.string("average") == "logit" ? Averaging::Logit : Averaging::Probability;
}

std::string TtaView::describe() const {
  switch (kind) {
  case Kind::Identity: return "unaugmented";
  case Kind::HorizontalFlip: return "horizontal flip";
  case Kind::VerticalFlip: return "vertical flip";
  case Kind::Shift: return fmt::format("shift ({:+d}, {:+d}) px", x, y);
  case Kind::Crop: return fmt::format("crop {}x{} at ({}, {})", width, height, x, y);
  }
  return "?";
}

std::vector<TtaView> tta_views(const TestTimeAugmentation& tta, int height, int width) {
  using Kind = TtaView::Kind;
  using Offsets = std::initializer_list<std::pair<int, int>>;
  std::vector<TtaView> views(1); // the unaugmented input
  if (tta.horizontal_flip) views.push_back({Kind::HorizontalFlip});
  if (tta.vertical_flip) views.push_back({Kind::VerticalFlip});
  if (tta.shift > 0) {
    if (tta.shift >= std::min(height, width))
      throw std::runtime_error(fmt::format("tta_shift = {} does not fit inputs of {}x{} pixels: shift by less than the shorter side",
                                           tta.shift, width, height));
    for (const auto& [x, y] : Offsets{{tta.shift, 0}, {-tta.shift, 0}, {0, tta.shift}, {0, -tta.shift}})
      views.push_back({Kind::Shift, x, y});
  }
  if (tta.crop < 1.0) {
    const int crop_width = std::max(1, static_cast<int>(std::lround(tta.crop * width)));
    const int crop_height = std::max(1, static_cast<int>(std::lround(tta.crop * height)));
    const int right = width - crop_width, bottom = height - crop_height;
    for (const auto& [x, y] : Offsets{{0, 0}, {right, 0}, {0, bottom}, {right, bottom}, {right / 2, bottom / 2}})
      views.push_back({Kind::Crop, x, y, crop_width, crop_height});
  }
  return views;
}

namespace {

torch::Tensor resized(const torch::Tensor& images, std::int64_t height, std::int64_t width) {
  namespace F = torch::nn::functional;
  return F::interpolate(images, F::InterpolateFuncOptions()
                                    .size(std::vector<std::int64_t>{height, width})
                                    .mode(torch::kBilinear)
                                    .align_corners(false));
}

} // namespace

torch::Tensor apply_view(const TtaView& view, const torch::Tensor& images) {
  using Kind = TtaView::Kind;
  const std::int64_t height = images.size(2), width = images.size(3);
  switch (view.kind) {
  case Kind::Identity: return images;
  case Kind::HorizontalFlip: return images.flip({3});
  case Kind::VerticalFlip: return images.flip({2});
  case Kind::Shift: {
    // The pixel at (i, j) of the view is the input's (i - y, j - x), the nearest edge pixel outside.
    const auto options = torch::TensorOptions(torch::kLong).device(images.device());
    const auto rows = (torch::arange(height, options) - view.y).clamp(0, height - 1);
    const auto cols = (torch::arange(width, options) - view.x).clamp(0, width - 1);
    return images.index_select(2, rows).index_select(3, cols);
  }
  case Kind::Crop: return resized(images.narrow(2, view.y, view.height).narrow(3, view.x, view.width), height, width);
  }
  return images;
}

FrameMap view_map_back(const TtaView& view, const torch::Tensor& maps) {
  using Kind = TtaView::Kind;
  const std::int64_t height = maps.size(1), width = maps.size(2);
  FrameMap out;
  switch (view.kind) {
  case Kind::Identity: out.map = maps; break;
  case Kind::HorizontalFlip: out.map = maps.flip({2}); break;
  case Kind::VerticalFlip: out.map = maps.flip({1}); break;
  case Kind::Shift: {
    // The frame's pixel (i, j) is the view's (i + y, j + x); what the shift pushed out is not seen.
    const std::int64_t rows = height - std::abs(view.y), cols = width - std::abs(view.x);
    out.map = torch::zeros_like(maps);
    out.coverage = torch::zeros({height, width}, maps.options());
    out.map.narrow(1, std::max(0, -view.y), rows)
        .narrow(2, std::max(0, -view.x), cols)
        .copy_(maps.narrow(1, std::max(0, view.y), rows).narrow(2, std::max(0, view.x), cols));
    out.coverage.narrow(0, std::max(0, -view.y), rows).narrow(1, std::max(0, -view.x), cols).fill_(1.0);
    return out;
  }
  case Kind::Crop: {
    out.map = torch::zeros_like(maps);
    out.coverage = torch::zeros({height, width}, maps.options());
    out.map.narrow(1, view.y, view.height).narrow(2, view.x, view.width).copy_(resized(maps.unsqueeze(1), view.height, view.width).squeeze(1));
    out.coverage.narrow(0, view.y, view.height).narrow(1, view.x, view.width).fill_(1.0);
    return out;
  }
  }
  out.coverage = torch::ones({height, width}, maps.options());
  return out;
}

} // namespace radpipe::host
