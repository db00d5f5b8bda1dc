#include "runtime/tensor.hpp"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <opencv2/core.hpp>

using namespace radpipe;
using radpipe::host::samples_to_tensor;

TEST(SamplesToTensor, ScalesByDepthAndLaysOutChannelsFirst) {
  std::vector<Sample> samples(2);
  samples[0].image = (cv::Mat_<unsigned char>(2, 3) << 0, 51, 102, 153, 204, 255);
  samples[1].image = cv::Mat(2, 3, CV_16U, cv::Scalar(65535));
  auto tensor = samples_to_tensor(samples, 1);
  ASSERT_EQ(tensor.sizes(), (std::vector<int64_t>{2, 1, 2, 3}));
  EXPECT_FLOAT_EQ(tensor[0][0][0][1].item<float>(), 0.2f);
  EXPECT_FLOAT_EQ(tensor[0][0][1][2].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(tensor[1][0][1][1].item<float>(), 1.0f);
}

TEST(SamplesToTensor, KeepsRgbPlanesAndReplicatesGray) {
  std::vector<Sample> rgb(1);
  rgb[0].image = cv::Mat(2, 2, CV_32FC3, cv::Scalar(0.1, 0.2, 0.3));
  auto tensor = samples_to_tensor(rgb, 3);
  EXPECT_FLOAT_EQ(tensor[0][0][1][1].item<float>(), 0.1f);
  EXPECT_FLOAT_EQ(tensor[0][2][0][0].item<float>(), 0.3f);

  std::vector<Sample> gray(1);
  gray[0].image = cv::Mat(2, 2, CV_32F, cv::Scalar(0.7));
  auto replicated = samples_to_tensor(gray, 3);
  EXPECT_TRUE(torch::allclose(replicated[0][0], replicated[0][2]));
  EXPECT_FLOAT_EQ(replicated[0][1][0][1].item<float>(), 0.7f);
}

// A float image goes into the batch as it is (normalize's output), even as a region of a larger
// one, and the batch owns its copy.
TEST(SamplesToTensor, TakesFloatRegionsAsTheyAreIntoItsOwnCopy) {
  cv::Mat plate(4, 5, CV_32F);
  for (int r = 0; r < plate.rows; ++r)
    for (int c = 0; c < plate.cols; ++c) plate.at<float>(r, c) = static_cast<float>(10 * r + c) - 7.5f;
  std::vector<Sample> samples(1);
  samples[0].image = plate(cv::Rect(1, 1, 3, 2));
  ASSERT_FALSE(samples[0].image.isContinuous());
  auto tensor = samples_to_tensor(samples, 1);
  EXPECT_FLOAT_EQ(tensor[0][0][0][0].item<float>(), 3.5f);
  EXPECT_FLOAT_EQ(tensor[0][0][1][2].item<float>(), 15.5f);
  tensor.fill_(0.0f);
  EXPECT_FLOAT_EQ(plate.at<float>(2, 3), 15.5f);
}

TEST(SamplesToTensor, ExplainsMismatchedSizesAndChannels) {
  std::vector<Sample> samples(2);
  samples[0].image = cv::Mat(4, 4, CV_8U);
  samples[1].image = cv::Mat(5, 4, CV_8U);
  samples[1].info.id = "second";
  try {
    samples_to_tensor(samples, 1);
    FAIL();
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("sample second is 4x5 but the batch is 4x4"), std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("resize"), std::string::npos);
  }
  std::vector<Sample> color(1);
  color[0].image = cv::Mat(4, 4, CV_8UC3);
  EXPECT_THROW(samples_to_tensor(color, 1), std::runtime_error);
}
