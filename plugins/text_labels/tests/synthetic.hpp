// Synthetic radiograph stand-ins for the text_labels tests, drawn by the tests themselves.
#pragma once

#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/schema.hpp>
#include <string>
#include <utility>

#include "mask_text_labels.hpp"

namespace radpipe::text_labels::testing {

// The gradient's value at column x of an image `width` wide, before noise: 40 at the left edge
// to 120 at the right, like the soft-tissue background of a radiograph.
inline double gradient_at(int x, int width) {
  return 40.0 + 80.0 * x / (width - 1);
}

// 8-bit gray: the gradient plus Gaussian noise of sigma 4 from a fixed seed.
inline cv::Mat noisy_gradient(cv::Size size = {400, 400}) {
  cv::Mat image(size, CV_32F);
  for (int x = 0; x < size.width; ++x) image.col(x).setTo(gradient_at(x, size.width));
  cv::Mat noise(size, CV_32F);
  cv::RNG rng(20261124);
  rng.fill(noise, cv::RNG::NORMAL, 0.0, 4.0);
  cv::Mat result;
  cv::Mat(image + noise).convertTo(result, CV_8U);
  return result;
}

// Draws `text` in full white (no anti-aliasing) and returns the bounding box of the pixels it
// changed, measured on the image rather than taken from cv::getTextSize.
inline cv::Rect draw_text(cv::Mat& image, const std::string& text, cv::Point origin, double scale,
                          int thickness) {
  const cv::Mat before = image.clone();
  cv::putText(image, text, origin, cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar::all(255), thickness,
              cv::LINE_8);
  return cv::boundingRect(image != before);
}

// The stage built from `values` as the host would build it (schema defaults filled in).
inline MaskTextLabels stage(std::map<std::string, ParamValue> values = {}) {
  return MaskTextLabels(resolve_params(MaskTextLabels::schema(), std::move(values)), StageContext{});
}

inline cv::Rect widened(const cv::Rect& box, int by) {
  return {box.x - by, box.y - by, box.width + 2 * by, box.height + 2 * by};
}

} // namespace radpipe::text_labels::testing
