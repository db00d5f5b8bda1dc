#include "fill.hpp"

#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>
#include <radpipe/error.hpp>
#include <string>
#include <vector>

namespace radpipe::text_labels {
namespace {

cv::Mat box_mask(cv::Size size, std::span<const cv::Rect> boxes) {
  cv::Mat mask = cv::Mat::zeros(size, CV_8U);
  for (const cv::Rect& box : boxes) mask(box & cv::Rect({}, size)).setTo(255);
  return mask;
}

// Per-channel medians of the pixels of `image` inside `region` where `excluded` is zero; empty
// when there are none.
std::vector<double> medians(const cv::Mat& image, const cv::Rect& region, const cv::Mat& excluded) {
  cv::Mat values;
  image(region).convertTo(values, CV_64F);
  const cv::Mat skip = excluded(region);
  std::vector<std::vector<double>> channels(static_cast<std::size_t>(image.channels()));
  for (int row = 0; row < values.rows; ++row) {
    const double* pixel = values.ptr<double>(row);
    const unsigned char* skipped = skip.ptr<unsigned char>(row);
    for (int col = 0; col < values.cols; ++col)
      if (!skipped[col])
        for (std::size_t c = 0; c < channels.size(); ++c)
          channels[c].push_back(pixel[col * values.channels() + c]);
  }
  std::vector<double> result;
  for (std::vector<double>& channel : channels) {
    if (channel.empty()) return {};
    const auto middle = channel.begin() + static_cast<std::ptrdiff_t>(channel.size() / 2);
    std::nth_element(channel.begin(), middle, channel.end());
    result.push_back(*middle);
  }
  return result;
}

void fill_with_local_background(cv::Mat& image, std::span<const cv::Rect> boxes, int ring) {
  const cv::Rect whole({}, image.size());
  const cv::Mat covered = box_mask(image.size(), boxes);
  for (const cv::Rect& box : boxes) {
    const cv::Rect around =
        cv::Rect(box.x - ring, box.y - ring, box.width + 2 * ring, box.height + 2 * ring) & whole;
    std::vector<double> value = medians(image, around, covered);
    // A box that reaches everywhere its ring would be takes the rest of the image's median.
    if (value.empty()) value = medians(image, whole, covered);
    if (value.empty()) value.assign(static_cast<std::size_t>(image.channels()), 0.0);
    cv::Scalar fill;
    for (std::size_t c = 0; c < value.size(); ++c) fill[static_cast<int>(c)] = value[c];
    image(box & whole).setTo(fill);
  }
}

void fill_with_inpainting(cv::Mat& image, std::span<const cv::Rect> boxes, double radius) {
  const cv::Mat mask = box_mask(image.size(), boxes);
  cv::Mat painted;
  // cv::inpaint takes 8-bit gray or colour, but 16-bit and float only with one channel.
  if (image.depth() == CV_8U || image.channels() == 1) {
    cv::inpaint(image, mask, painted, radius, cv::INPAINT_TELEA);
  } else {
    std::vector<cv::Mat> channels;
    cv::split(image, channels);
    for (cv::Mat& channel : channels) {
      cv::Mat result;
      cv::inpaint(channel, mask, result, radius, cv::INPAINT_TELEA);
      channel = result;
    }
    cv::merge(channels, painted);
  }
  painted.copyTo(image, mask);
}

} // namespace

Fill fill_from_name(std::string_view name) {
  if (name == "local_background") return Fill::LocalBackground;
  if (name == "inpaint") return Fill::Inpaint;
  if (name == "zero") return Fill::Zero;
  throw StageError("fill",
                   "unknown fill \"" + std::string(name) + "\"; use local_background, inpaint or zero");
}

void fill_boxes(cv::Mat& image, std::span<const cv::Rect> boxes, Fill fill, int ring, double inpaint_radius) {
  if (boxes.empty()) return;
  switch (fill) {
    case Fill::LocalBackground:
      fill_with_local_background(image, boxes, ring);
      break;
    case Fill::Inpaint:
      fill_with_inpainting(image, boxes, inpaint_radius);
      break;
    case Fill::Zero:
      for (const cv::Rect& box : boxes) image(box & cv::Rect({}, image.size())).setTo(cv::Scalar::all(0));
      break;
  }
}

} // namespace radpipe::text_labels
