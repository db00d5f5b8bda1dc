// Unit tests of the template's stage, without the host: the stage is built from parameters that
// the SDK's resolve_params checks against its schema, exactly as the host would check a pipeline.
#include "invert_intensity.hpp"

#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <radpipe/error.hpp>

namespace {

example::InvertIntensity make_stage(std::map<std::string, radpipe::ParamValue> values = {}) {
  return example::InvertIntensity(
      radpipe::resolve_params(example::InvertIntensity::schema(), std::move(values)), {});
}

radpipe::Sample sample_of(cv::Mat image) {
  radpipe::Sample sample;
  sample.info.id = "test";
  sample.info.path = "/images/test.png";
  sample.image = std::move(image);
  return sample;
}

} // namespace

TEST(InvertIntensity, InvertsEachDepthAroundItsMaximum) {
  const auto stage = make_stage();
  auto eight = sample_of(cv::Mat(2, 2, CV_8U, cv::Scalar(10)));
  stage.apply(eight, {});
  EXPECT_EQ(eight.image.at<unsigned char>(1, 1), 245);

  auto sixteen = sample_of(cv::Mat(2, 2, CV_16U, cv::Scalar(1000)));
  stage.apply(sixteen, {});
  EXPECT_EQ(sixteen.image.at<unsigned short>(0, 1), 64535);

  auto floats = sample_of(cv::Mat(2, 2, CV_32F, cv::Scalar(0.25)));
  stage.apply(floats, {});
  EXPECT_FLOAT_EQ(floats.image.at<float>(1, 0), 0.75f);
}

TEST(InvertIntensity, FloatImagesUseTheConfiguredMaximum) {
  const auto stage = make_stage({{"float_maximum", 4.0}});
  auto floats = sample_of(cv::Mat(1, 1, CV_32F, cv::Scalar(1.5)));
  stage.apply(floats, {});
  EXPECT_FLOAT_EQ(floats.image.at<float>(0, 0), 2.5f);
}

TEST(InvertIntensity, TheSchemaRefusesANegativeMaximum) {
  EXPECT_THROW(make_stage({{"float_maximum", -1.0}}), radpipe::StageError);
}

TEST(InvertIntensity, AnImageOfAnotherDepthIsASampleErrorNamingIt) {
  const auto stage = make_stage();
  auto doubles = sample_of(cv::Mat(2, 2, CV_64F, cv::Scalar(0.5)));
  try {
    stage.apply(doubles, {});
    FAIL() << "a CV_64F image must be refused";
  } catch (const radpipe::SampleError& error) {
    EXPECT_EQ(error.path(), "/images/test.png");
    EXPECT_NE(std::string(error.what()).find("sample test"), std::string::npos) << error.what();
  }
}
