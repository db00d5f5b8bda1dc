// The geometry that resize and center_crop record (radpipe/geometry.hpp): a bright spot put in
// the source image must land where the recorded map sends its centre, in every mode and through
// a chain of two steps.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/geometry.hpp>

#include "crop.hpp"
#include "resize.hpp"

namespace radpipe::transforms {
namespace {

const cv::Size source_size(200, 120);
const cv::Point2d spot(151, 37); // the spot's centre in the source

Sample spot_sample() {
  Sample sample;
  sample.info.id = "spot";
  sample.image = cv::Mat(source_size, CV_32FC1, cv::Scalar(0.0f));
  cv::circle(sample.image, cv::Point(static_cast<int>(spot.x), static_cast<int>(spot.y)), 4, cv::Scalar(1.0f), cv::FILLED);
  return sample;
}

template <class StageT>
void apply(Sample& sample, std::map<std::string, ParamValue> values) {
  const StageT stage(resolve_params(StageT::schema(), std::move(values)), StageContext{});
  stage.apply(sample, TransformContext{});
}

// The intensity-weighted centre of the spot in `image`.
cv::Point2d centre_of(const cv::Mat& image) {
  const cv::Moments moments = cv::moments(image);
  return {moments.m10 / moments.m00, moments.m01 / moments.m00};
}

void expect_spot_where_recorded(const Sample& sample) {
  const auto geometry = recorded_geometry(sample.info, sample.image.size(), source_size);
  ASSERT_TRUE(geometry.has_value()) << sample.info.tags.at(geometry_tag);
  const cv::Matx21d moved = geometry->to_output * cv::Matx31d(spot.x, spot.y, 1.0);
  const cv::Point2d found = centre_of(sample.image);
  EXPECT_NEAR(found.x, moved(0), 0.3);
  EXPECT_NEAR(found.y, moved(1), 0.3);
}

TEST(Geometry, EveryResizeModeRecordsWherePixelsGo) {
  for (const std::string mode : {"pad", "stretch", "shorter_side_crop"}) {
    SCOPED_TRACE(mode);
    Sample sample = spot_sample();
    apply<Resize>(sample, {{"size", std::vector<std::int64_t>{96, 80}}, {"mode", mode}, {"interpolation", std::string("linear")}});
    ASSERT_EQ(sample.image.size(), cv::Size(96, 80));
    expect_spot_where_recorded(sample);
  }
}

TEST(Geometry, CropAndResizeCompose) {
  Sample sample = spot_sample();
  apply<CenterCrop>(sample, {{"size", std::vector<std::int64_t>{160, 140}}}); // cuts columns, pads rows
  expect_spot_where_recorded(sample);
  apply<Resize>(sample, {{"size", std::vector<std::int64_t>{64, 64}}, {"interpolation", std::string("linear")}});
  expect_spot_where_recorded(sample);
}

TEST(Geometry, ASizeChangeWithoutARecordMakesTheGeometryUnknown) {
  Sample sample = spot_sample();
  EXPECT_TRUE(recorded_geometry(sample.info, source_size, source_size).has_value()) << "nothing moved: the identity";
  apply<Resize>(sample, {{"size", std::vector<std::int64_t>{100, 60}}});
  cv::resize(sample.image, sample.image, cv::Size(50, 30)); // a transform that records nothing
  EXPECT_FALSE(recorded_geometry(sample.info, sample.image.size(), source_size).has_value());
  apply<Resize>(sample, {{"size", std::vector<std::int64_t>{64, 64}}});
  EXPECT_EQ(sample.info.tags.at(geometry_tag), "unknown");
  EXPECT_FALSE(recorded_geometry(sample.info, sample.image.size(), source_size).has_value());
}

} // namespace
} // namespace radpipe::transforms
