// Heatmaps carried from the model's input back onto the image as the reader decoded it, as predict
// hands them to writers that draw them (runtime/explanation).
#include "runtime/explanation.hpp"

#include <radpipe/geometry.hpp>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <torch/torch.h>

using namespace radpipe;
using radpipe::host::heatmap_on_decoded_frame;

namespace {

double mean_of(const cv::Mat& map, const cv::Rect& area) { return cv::mean(map(area))[0]; }

TEST(HeatmapOnDecodedFrame, IsTheMapItselfWhenNothingChangedTheSize) {
  auto heat = torch::rand({8, 6});
  bool stretched = true;
  const cv::Mat frame = heatmap_on_decoded_frame(heat, SampleInfo{}, 512, stretched);
  EXPECT_FALSE(stretched);
  ASSERT_EQ(frame.size(), cv::Size(6, 8));
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 6; ++x) EXPECT_NEAR(frame.at<float>(y, x), heat[y][x].item<float>(), 1e-6) << x << "," << y;
}

// A 400x200 radiograph resized into a padded 64x64 input (scale 0.16, 16 rows of padding above):
// heat on the right half of the content is heat on the right half of the radiograph.
TEST(HeatmapOnDecodedFrame, FollowsTheRecordedGeometryOntoTheDecodedImagesFrame) {
  SampleInfo info;
  record_geometry(info, scale_then_shift(0.16, 0.16, 0.0, 16.0), cv::Size(400, 200), cv::Size(64, 64));
  auto heat = torch::zeros({64, 64});
  heat.narrow(0, 16, 32).narrow(1, 32, 32).fill_(1.0f); // the content's right half
  heat.narrow(0, 0, 16).fill_(1.0f);                    // padding: nothing of the radiograph
  bool stretched = true;
  const cv::Mat frame = heatmap_on_decoded_frame(heat, info, 100, stretched);
  EXPECT_FALSE(stretched);
  ASSERT_EQ(frame.size(), cv::Size(100, 50)) << "the decoded image's aspect, longer side at most 100";
  EXPECT_GT(mean_of(frame, cv::Rect(55, 2, 43, 46)), 0.99) << "hot: the right half";
  EXPECT_LT(mean_of(frame, cv::Rect(2, 2, 43, 46)), 0.01) << "cold: the left half, and the padding above is not drawn";
}

TEST(HeatmapOnDecodedFrame, KeepsASmallDecodedImageAtItsOwnSize) {
  SampleInfo info;
  record_geometry(info, scale_then_shift(2.0, 2.0, 0.0, 0.0), cv::Size(30, 20), cv::Size(60, 40));
  bool stretched = true;
  const cv::Mat frame = heatmap_on_decoded_frame(torch::ones({40, 60}), info, 512, stretched);
  EXPECT_EQ(frame.size(), cv::Size(30, 20)) << "never enlarged past the decoded image";
  EXPECT_NEAR(mean_of(frame, cv::Rect(1, 1, 28, 18)), 1.0, 1e-5);
}

TEST(HeatmapOnDecodedFrame, SaysItStretchedWhenATransformDidNotRecordItsGeometry) {
  SampleInfo info;
  info.tags[geometry_tag] = "unknown";
  bool stretched = false;
  const cv::Mat frame = heatmap_on_decoded_frame(torch::ones({16, 16}), info, 512, stretched);
  EXPECT_TRUE(stretched);
  EXPECT_EQ(frame.size(), cv::Size(16, 16));
}

} // namespace
