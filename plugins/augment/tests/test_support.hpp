// Helpers for the augment stages' tests.
#pragma once

#include <cstdint>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <stdexcept>
#include <string>
#include <utility>

namespace radpipe::augment::testing {

// Validated parameters with the schema's defaults, as the host would hand them to a factory.
inline Params params(const Schema& schema, std::map<std::string, ParamValue> values = {}) {
  return resolve_params(schema, std::move(values));
}

inline TransformContext training(std::uint64_t seed = 42, std::uint64_t epoch = 0) {
  return TransformContext{RunMode::Train, seed, epoch};
}

// Applies `stage` to a sample holding `image` at enumeration position `index`.
inline cv::Mat apply(const Transform& stage, const cv::Mat& image, std::uint64_t index,
                     const TransformContext& context = training()) {
  Sample sample;
  sample.info.id = "test";
  sample.info.path = "/in/memory.png";
  sample.info.index = index;
  sample.image = image;
  stage.apply(sample, context);
  return sample.image;
}

// The first FracAtlas radiograph (512 rows, 421 columns), gray or RGB.
inline cv::Mat fracatlas_image(int flags = cv::IMREAD_GRAYSCALE) {
  const std::string file = std::string(RADPIPE_SHARED_DIR) + "/data/fracatlas/images/IMG0000000.jpg";
  cv::Mat image = cv::imread(file, flags);
  if (image.empty()) throw std::runtime_error("cannot read " + file + "; is RADPIPE_SHARED_DIR right?");
  if (image.channels() == 3) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  return image;
}

// Same type and size and a difference of norm 0.
inline bool identical(const cv::Mat& a, const cv::Mat& b) {
  return a.type() == b.type() && a.size() == b.size() && cv::norm(a, b, cv::NORM_INF) == 0.0;
}

} // namespace radpipe::augment::testing
