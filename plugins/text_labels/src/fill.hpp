// Covering detected text label boxes so that a model cannot read them.
#pragma once

#include <opencv2/core/mat.hpp>
#include <span>
#include <string_view>

namespace radpipe::text_labels {

enum class Fill {
  LocalBackground, // each box takes the per-channel median of a ring of pixels around it
  Inpaint,         // cv::inpaint (Telea) reconstructs the boxes from their borders
  Zero,            // the boxes become black
};

// "local_background", "inpaint", "zero"; the names a pipeline file uses.
Fill fill_from_name(std::string_view name);

// Overwrites the pixels inside `boxes`, and only those, in `image` (any radpipe image form).
// `ring` is the width in pixels of the band around a box that local_background samples (pixels
// of other boxes excluded); `inpaint_radius` is cv::inpaint's neighbourhood radius in pixels.
void fill_boxes(cv::Mat& image, std::span<const cv::Rect> boxes, Fill fill, int ring, double inpaint_radius);

} // namespace radpipe::text_labels
