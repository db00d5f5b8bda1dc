// Helpers for the transforms' tests.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <opencv2/core.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <utility>

namespace radpipe::transforms::testing {

// Builds StageT from `values` (checked and completed by radpipe::resolve_params, as the host
// would) and applies it to `image`, returning the result.
template <class StageT>
cv::Mat run(const cv::Mat& image, std::map<std::string, ParamValue> values = {}) {
  const StageT stage(resolve_params(StageT::schema(), std::move(values)), StageContext{});
  Sample sample;
  sample.info.id = "test";
  sample.info.path = "/in/memory.png";
  sample.image = image;
  stage.apply(sample, TransformContext{});
  return sample.image;
}

// Same type and size, and every pixel within `tolerance` of `expected` (0: exactly equal).
inline void expect_same(const cv::Mat& actual, const cv::Mat& expected, double tolerance = 0.0) {
  ASSERT_EQ(actual.type(), expected.type());
  ASSERT_EQ(actual.size(), expected.size());
  EXPECT_LE(cv::norm(actual, expected, cv::NORM_INF), tolerance) << actual << "\nexpected\n" << expected;
}

} // namespace radpipe::transforms::testing
