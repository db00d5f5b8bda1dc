// Decode hints: what the SDK's DecodeHint promises, how the host walks a [[preprocess]] chain to
// build one, and that the hinted decode gives the model the same tensors as a full decode.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>
#include <radpipe/testing.hpp>
#include <torch/torch.h>

#include <fstream>

#include "runtime/inference.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/tensor.hpp"
#include "real_plugins.hpp"

using namespace radpipe;
using namespace radpipe::host;

namespace {

DecodeHint covering(int width, int height, DecodeHint::Cover cover) {
  DecodeHint hint;
  hint.min_width = width;
  hint.min_height = height;
  hint.cover = cover;
  return hint;
}

using radpipe::host::test_support::real_plugins;

// A pipeline over the 20 bundled FracAtlas radiographs (colour and grey JPEGs of 373x454 to
// 512x410 pixels) with `preprocess` as its [[preprocess]] tables.
class SamplePipeline {
public:
  SamplePipeline(const std::string& preprocess, bool hints) {
    const auto labels = std::filesystem::path(RADPIPE_SOURCE_DIR) / "samples" / "fracatlas" / "labels.csv";
    const std::string text = "[pipeline]\nname = \"hints\"\nworkers = 2\ndecode_hints = " + std::string(hints ? "true" : "false") +
                             "\n[reader]\nstage = \"csv\"\nfile = \"" + labels.string() +
                             "\"\nimage_column = \"image\"\nlabel_column = \"fractured\"\n" + preprocess +
                             "[model]\nstage = \"cnn\"\n[aggregate]\nstage = \"mean\"\n";
    auto result = parse_pipeline(text, scratch_.path() / "pipeline.toml", real_plugins());
    if (!result.config) throw std::runtime_error("invalid test pipeline");
    config_ = std::make_unique<PipelineConfig>(std::move(*result.config));
    BuildOptions options;
    options.build_models = false;
    pipeline_ = std::make_unique<Pipeline>(*config_, real_plugins(), options);
  }

  Pipeline& pipeline() { return *pipeline_; }

  // Every sample through the chain, as predict streams them.
  std::vector<Sample> samples() {
    SampleStream stream(reader_source(*pipeline_->reader().stage), pipeline_->reader(), pipeline_->transforms(),
                        prediction_stream_options(*pipeline_));
    std::vector<Sample> all;
    while (auto sample = stream.next()) all.push_back(std::move(*sample));
    return all;
  }

private:
  radpipe::testing::TempFolder scratch_;
  std::unique_ptr<PipelineConfig> config_;
  std::unique_ptr<Pipeline> pipeline_;
};

const std::string grey_128 = "[[preprocess]]\nstage = \"grayscale\"\n[[preprocess]]\nstage = \"resize\"\nsize = [128, 128]\n"
                             "[[preprocess]]\nstage = \"normalize\"\npreset = \"imagenet\"\n";

} // namespace

TEST(DecodeHint, ReductionIsTheLargestPowerOfTwoThatStillCovers) {
  // 373x454 to 128x128: 1/2 gives 187x227, which covers; 1/4 gives 94x114, which does not.
  EXPECT_EQ(covering(128, 128, DecodeHint::Cover::Both).reduction_for(373, 454), 2);
  EXPECT_EQ(covering(128, 128, DecodeHint::Cover::Either).reduction_for(373, 454), 2);
  // 2000x2500 to 224: 1/8 gives 250x313.
  EXPECT_EQ(covering(224, 224, DecodeHint::Cover::Both).reduction_for(2000, 2500), 8);
  // Sides round up as libjpeg's: 1/2 of 255 is 128.
  EXPECT_EQ(covering(128, 128, DecodeHint::Cover::Both).reduction_for(255, 255), 2);
  // A long image fitted inside (pad) needs one side only; filled (stretch, crop) both.
  EXPECT_EQ(covering(128, 128, DecodeHint::Cover::Either).reduction_for(2000, 200), 8);
  EXPECT_EQ(covering(128, 128, DecodeHint::Cover::Both).reduction_for(2000, 200), 1);
  // Both orientations must cover, as EXIF may rotate: 1/4 of 1000x600 is 250x150, and 150 < 200.
  EXPECT_EQ(covering(200, 100, DecodeHint::Cover::Both).reduction_for(1000, 600), 2);
  // No size declared, or an image smaller than the size: full decode.
  EXPECT_EQ(DecodeHint{}.reduction_for(4000, 4000), 1);
  EXPECT_EQ(covering(512, 512, DecodeHint::Cover::Both).reduction_for(300, 300), 1);
}

TEST(DecodeHint, MostDemandingKeepsWhatEitherChainNeeds) {
  DecodeHint grey_small = covering(128, 128, DecodeHint::Cover::Either);
  grey_small.channels = DecodeHint::Channels::Gray;
  grey_small.max_bits = 8;
  DecodeHint colour_large = covering(320, 200, DecodeHint::Cover::Either);

  const DecodeHint both = most_demanding(grey_small, colour_large);
  EXPECT_EQ(both.channels, DecodeHint::Channels::Any);
  EXPECT_EQ(both.min_width, 320);
  EXPECT_EQ(both.min_height, 200);
  EXPECT_EQ(both.cover, DecodeHint::Cover::Either);
  EXPECT_EQ(both.max_bits, 16);

  DecodeHint grey_other = grey_small;
  grey_other.cover = DecodeHint::Cover::Both;
  const DecodeHint grey = most_demanding(grey_small, grey_other);
  EXPECT_EQ(grey.channels, DecodeHint::Channels::Gray);
  EXPECT_EQ(grey.cover, DecodeHint::Cover::Both);
  EXPECT_EQ(grey.max_bits, 8);
  // A chain that needs the full size wins over any reduction.
  EXPECT_FALSE(most_demanding(grey_small, DecodeHint{}).reducible());
}

TEST(DecodeHint, TheWalkStopsAtTheFirstStepThatDoesNotDeclare) {
  SamplePipeline grey(grey_128, true);
  const DecodeHint& hint = grey.pipeline().decode_hint();
  EXPECT_EQ(hint.channels, DecodeHint::Channels::Gray);
  EXPECT_EQ(hint.min_width, 256); // twice the resize's size (resize.cpp says why)
  EXPECT_EQ(hint.min_height, 256);
  EXPECT_EQ(hint.cover, DecodeHint::Cover::Either); // resize's default mode is pad

  // A crop before the resize changes what the resize sees: no reduction, grey still declared.
  SamplePipeline cropped("[[preprocess]]\nstage = \"grayscale\"\n[[preprocess]]\nstage = \"center_crop\"\nsize = [300, 300]\n"
                         "[[preprocess]]\nstage = \"resize\"\nsize = [128, 128]\n",
                         true);
  EXPECT_EQ(cropped.pipeline().decode_hint().channels, DecodeHint::Channels::Gray);
  EXPECT_FALSE(cropped.pipeline().decode_hint().reducible());

  // The first resize decides: the second works on its output.
  SamplePipeline twice("[[preprocess]]\nstage = \"resize\"\nsize = [256, 200]\nmode = \"stretch\"\n"
                       "[[preprocess]]\nstage = \"resize\"\nsize = [64, 64]\n",
                       true);
  EXPECT_EQ(twice.pipeline().decode_hint().channels, DecodeHint::Channels::Any);
  EXPECT_EQ(twice.pipeline().decode_hint().min_width, 512);
  EXPECT_EQ(twice.pipeline().decode_hint().cover, DecodeHint::Cover::Both);

  SamplePipeline off(grey_128, false);
  EXPECT_EQ(off.pipeline().decode_hint().channels, DecodeHint::Channels::Any);
  EXPECT_FALSE(off.pipeline().decode_hint().reducible());
}

// The model's input with and without hints. Hinted, the 20 radiographs decode as libjpeg's luma
// channel at half scale (at least twice the resize's 128, as resize declares) instead of RGB at
// full scale; the chain then converts to grey, resizes to 128 and normalises with ImageNet's
// statistics (1 grey level = 1 / (255 * 0.226) = 0.0174 in the tensor). Two filters meet:
// libjpeg's scaled IDCT plus an area resize against one area resize. They agree on the smooth
// inside of a radiograph and differ at sharp edges by a few grey levels. Where the letterbox's
// rounding puts the edge of the content one pixel over, a column changes from padding to
// radiograph, by up to the full range. The tolerance: on average at most half a grey level per
// pixel, and at most 1% of the pixels off by more than 12 grey levels (measured: 0.23 and 0.26%).
TEST(DecodeHint, HintedAndFullDecodeGiveTheSameTensorsWithinResamplingNoise) {
  SamplePipeline hinted(grey_128, true), full(grey_128, false);
  const auto hinted_samples = hinted.samples(), full_samples = full.samples();
  ASSERT_EQ(hinted_samples.size(), 20u);
  ASSERT_EQ(full_samples.size(), 20u);
  const torch::Tensor a = samples_to_tensor(hinted_samples, 1), b = samples_to_tensor(full_samples, 1);
  ASSERT_EQ(a.sizes(), b.sizes());
  const double grey_level = 1.0 / (255.0 * 0.226);
  const torch::Tensor difference = (a - b).abs() / grey_level;
  const double mean = difference.mean().item<double>(), max = difference.max().item<double>();
  std::cout << "hinted vs full decode, in grey levels: mean " << mean << ", max " << max << "\n";
  const double far_off = (difference > 12.0).to(torch::kDouble).mean().item<double>();
  std::cout << "share of pixels off by more than 12 grey levels: " << far_off << "\n";
  EXPECT_LE(mean, 0.5);
  EXPECT_LE(far_off, 0.01);
  EXPECT_GT(mean, 0.0) << "the hinted path should really decode differently (at half scale)";
}

// Without a resize to shrink to, only the channel count is hinted: libjpeg's luma against grey
// from the decoded RGB differ by rounding, at most one grey level.
TEST(DecodeHint, GreyDecodingAloneDiffersByRoundingOnly) {
  const std::string grey_only = "[[preprocess]]\nstage = \"grayscale\"\n[[preprocess]]\nstage = \"resize\"\nsize = [512, 512]\n";
  SamplePipeline hinted(grey_only, true), full(grey_only, false);
  const auto hinted_samples = hinted.samples(), full_samples = full.samples();
  ASSERT_EQ(hinted_samples.size(), full_samples.size());
  double max = 0;
  for (std::size_t i = 0; i < hinted_samples.size(); ++i) {
    ASSERT_EQ(hinted_samples[i].image.type(), CV_8UC1);
    cv::Mat difference;
    cv::absdiff(hinted_samples[i].image, full_samples[i].image, difference);
    double high = 0;
    cv::minMaxLoc(difference, nullptr, &high);
    max = std::max(max, high);
  }
  std::cout << "grey-only hint vs full decode: max " << max << " grey levels\n";
  EXPECT_LE(max, 2.0);
}
