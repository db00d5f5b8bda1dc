#include "text_labels.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

namespace radpipe::text_labels {
namespace {

int pixels(double fraction, int short_side, int at_least) {
  return std::max(at_least, static_cast<int>(std::lround(fraction * short_side)));
}

cv::Rect widened(const cv::Rect& box, int by) {
  return {box.x - by, box.y - by, box.width + 2 * by, box.height + 2 * by};
}

// The first shape rule `candidate` fails, or nullptr when it passes them all. These need only
// the component's statistics, so they run before the costlier contrast and stroke measurements.
const char* failed_shape_rule(const Candidate& candidate, const DetectorSettings& settings, int short_side) {
  const double width = candidate.box.width, height = candidate.box.height;
  if (height < settings.min_char_height * short_side) return "min_char_height";
  if (height > settings.max_char_height * short_side) return "max_char_height";
  if (width > settings.max_char_width * short_side) return "max_char_width";
  if (std::max(width, height) > settings.max_aspect * std::min(width, height)) return "max_aspect";
  if (candidate.fill < settings.min_fill) return "min_fill";
  if (candidate.fill > settings.max_fill) return "max_fill";
  return nullptr;
}

} // namespace

cv::Mat to_gray8(const cv::Mat& image) {
  cv::Mat gray = image;
  if (image.channels() == 3) cv::cvtColor(image, gray, cv::COLOR_RGB2GRAY);
  if (gray.depth() == CV_8U) return gray;
  cv::Mat result;
  // 16-bit and [0, 1] float map their full range onto 0..255; convertTo saturates outliers.
  gray.convertTo(result, CV_8U, gray.depth() == CV_16U ? 255.0 / 65535.0 : 255.0);
  return result;
}

std::vector<Candidate> text_candidates(const cv::Mat& image, const DetectorSettings& settings) {
  const cv::Mat gray = to_gray8(image);
  const int short_side = std::min(gray.rows, gray.cols);
  const int kernel = pixels(settings.tophat_size, short_side, 3) | 1;
  cv::Mat tophat;
  cv::morphologyEx(gray, tophat, cv::MORPH_TOPHAT,
                   cv::getStructuringElement(cv::MORPH_RECT, {kernel, kernel}));
  cv::Mat bright;
  cv::threshold(tophat, bright, settings.min_pixel_contrast * 255.0, 255, cv::THRESH_BINARY);

  cv::Mat labels, stats, centroids;
  const int count = cv::connectedComponentsWithStats(bright, labels, stats, centroids, 8, CV_32S);
  std::vector<Candidate> candidates;
  for (int label = 1; label < count; ++label) {
    Candidate candidate;
    candidate.box = {stats.at<int>(label, cv::CC_STAT_LEFT), stats.at<int>(label, cv::CC_STAT_TOP),
                     stats.at<int>(label, cv::CC_STAT_WIDTH), stats.at<int>(label, cv::CC_STAT_HEIGHT)};
    const int area = stats.at<int>(label, cv::CC_STAT_AREA);
    candidate.fill = static_cast<double>(area) / candidate.box.area();
    if (const char* rule = failed_shape_rule(candidate, settings, short_side)) {
      candidate.rejected_by = rule;
      candidates.push_back(std::move(candidate));
      continue;
    }
    // Measured on a one-pixel frame around the box so that the distance to the background is
    // right at the box's own edges too.
    const cv::Rect framed = widened(candidate.box, 1) & cv::Rect(0, 0, gray.cols, gray.rows);
    cv::Mat component = labels(framed) == label;
    cv::Mat distance;
    cv::distanceTransform(component, distance, cv::DIST_L2, cv::DIST_MASK_PRECISE);
    double deepest = 0.0;
    cv::minMaxLoc(distance, nullptr, &deepest);
    candidate.stroke = 2.0 * deepest / short_side;
    candidate.contrast = cv::mean(tophat(framed), component)[0] / 255.0;
    double peak = 0.0;
    cv::minMaxLoc(tophat(framed), nullptr, &peak, nullptr, nullptr, component);
    candidate.peak = peak / 255.0;
    // Printed text is near full intensity; anatomy that survives the top-hat (finger bones,
    // cortical edges) is much fainter on average even where a few of its pixels are bright.
    if (candidate.contrast < settings.min_char_contrast)
      candidate.rejected_by = "min_char_contrast";
    else if (candidate.stroke > settings.max_stroke)
      candidate.rejected_by = "max_stroke";
    candidate.is_character = candidate.rejected_by.empty();
    candidates.push_back(std::move(candidate));
  }
  return candidates;
}

std::vector<cv::Rect> group_boxes(std::vector<cv::Rect> boxes, int gap) {
  // Merging two groups can bring a third within reach, so merge until nothing changes.
  bool merged = true;
  while (merged) {
    merged = false;
    for (std::size_t i = 0; i < boxes.size() && !merged; ++i)
      for (std::size_t j = i + 1; j < boxes.size(); ++j) {
        if ((widened(boxes[i], gap) & boxes[j]).area() == 0) continue;
        boxes[i] |= boxes[j];
        boxes.erase(boxes.begin() + static_cast<std::ptrdiff_t>(j));
        merged = true;
        break;
      }
  }
  return boxes;
}

std::vector<cv::Rect> label_boxes(std::vector<cv::Rect> pieces, cv::Size image_size, double group_gap,
                                  double margin) {
  const int short_side = std::min(image_size.width, image_size.height);
  std::vector<cv::Rect> labels = group_boxes(std::move(pieces), pixels(group_gap, short_side, 0));
  const int widen_by = pixels(margin, short_side, 0);
  const cv::Rect whole({}, image_size);
  for (cv::Rect& label : labels) label = widened(label, widen_by) & whole;
  return labels;
}

std::vector<cv::Rect> detect_text_labels(const cv::Mat& image, const DetectorSettings& settings) {
  std::vector<cv::Rect> characters;
  for (const Candidate& candidate : text_candidates(image, settings))
    if (candidate.is_character) characters.push_back(candidate.box);
  return label_boxes(std::move(characters), image.size(), settings.group_gap, settings.margin);
}

} // namespace radpipe::text_labels
