// Ensembles and test-time augmentation in a chain's scoring (runtime/ensemble.hpp, runtime/tta.hpp):
// the demo model and a second checkpoint on the bundled radiographs, a TorchScript model whose
// asymmetry is known so that its TTA scores can be computed by hand, Grad-CAM maps taken back to
// the unaugmented frame, and the config errors of the new keys.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <radpipe/testing.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>

#include "real_plugins.hpp"
#include "runtime/ensemble.hpp"
#include "runtime/explanation.hpp"
#include "runtime/inference.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/tensor.hpp"

using namespace radpipe;
using namespace radpipe::host;
using radpipe::host::test_support::real_plugins;

namespace {

const std::filesystem::path source_dir = RADPIPE_SOURCE_DIR;
const std::string demo_weights = (source_dir / "samples" / "models" / "fracatlas-cnn5.pt").string();
const std::string labels = (source_dir / "samples" / "fracatlas" / "labels.csv").string();

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

// A pipeline over the bundled radiographs whose [model] table is `model_table`, with Grad-CAM.
std::string pipeline_text(const std::string& model_table) {
  return "[pipeline]\nname = \"ensemble\"\n"
         "[reader]\nstage = \"csv\"\nfile = " + quoted(labels) + "\nimage_column = \"image\"\nlabel_column = \"fractured\"\n"
         "[[preprocess]]\nstage = \"grayscale\"\n"
         "[[preprocess]]\nstage = \"resize\"\nsize = [128, 128]\nmode = \"pad\"\n"
         "[[preprocess]]\nstage = \"normalize\"\npreset = \"imagenet\"\n"
         "[model]\n" + model_table +
         "[aggregate]\nstage = \"mean\"\n"
         "[explain]\nstage = \"gradcam\"\n";
}

// The demo model's table with `weights` and `extra` host keys.
std::string cnn_table(const std::string& weights, const std::string& extra = {}) {
  return "stage = \"cnn\"\nblocks = 5\nwidth = 16\ninput_channels = 1\ndropout = 0.3\ndevice = \"cpu\"\n" +
         (weights.empty() ? std::string() : "weights = " + quoted(weights) + "\n") + extra;
}

// A built pipeline and its one chain.
class TestChain {
public:
  explicit TestChain(const std::string& model_table, const std::filesystem::path& file = "/pipelines/test.toml") {
    auto result = parse_pipeline(pipeline_text(model_table), file, real_plugins());
    if (!result.config) throw std::runtime_error("invalid test pipeline: " + format(result.diagnostics.front()));
    config_ = std::make_unique<PipelineConfig>(std::move(*result.config));
    pipeline_ = std::make_unique<Pipeline>(*config_, real_plugins(), BuildOptions{});
  }

  Pipeline& pipeline() { return *pipeline_; }
  Chain& chain() { return pipeline_->chains().front(); }

  // The first `count` radiographs through the shared steps, as predict streams them.
  std::vector<Sample> samples(std::size_t count) {
    SampleStream stream(reader_source(*pipeline_->reader().stage, {}, count), pipeline_->reader(), pipeline_->transforms(),
                        prediction_stream_options(*pipeline_));
    std::vector<Sample> all;
    while (auto sample = stream.next()) all.push_back(std::move(*sample));
    return all;
  }

  torch::Tensor probabilities(std::span<const Sample> batch) { return chain_probabilities(chain(), batch); }

  torch::Tensor logits(std::span<const Sample> batch) {
    c10::InferenceMode inference;
    return chain().model.stage->forward(samples_to_tensor(batch, 1)).logits.reshape({-1});
  }

  torch::Tensor heatmaps(std::span<const Sample> batch) { return explain_samples(chain(), *pipeline_->explainer(), batch).heat; }

private:
  std::unique_ptr<PipelineConfig> config_;
  std::unique_ptr<Pipeline> pipeline_;
};

double largest_difference(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Samples whose images are mirrored left-right (`mirror`), or made left-right symmetric.
std::vector<Sample> mirrored(const std::vector<Sample>& samples, bool symmetric) {
  std::vector<Sample> out;
  for (const auto& sample : samples) {
    cv::Mat flipped;
    cv::flip(sample.image, flipped, 1);
    Sample copy{sample.info, symmetric ? cv::Mat((sample.image + flipped) * 0.5) : flipped};
    out.push_back(std::move(copy));
  }
  return out;
}

// A second checkpoint of the demo's architecture: its table without weights, initialised at random.
std::filesystem::path random_checkpoint(const radpipe::testing::TempFolder& folder) {
  torch::manual_seed(7);
  TestChain fresh(cnn_table(""));
  const auto file = folder.path() / "random.pt";
  fresh.chain().model.stage->save_weights(file);
  return file;
}

} // namespace

TEST(Ensemble, TwoCopiesOfOneCheckpointScoreAsTheModelAlone) {
  TestChain single(cnn_table(demo_weights));
  TestChain pair(cnn_table("", "ensemble = [" + quoted(demo_weights) + ", " + quoted(demo_weights) + "]\n"));
  ASSERT_EQ(pair.chain().ensemble.size(), 2u);
  EXPECT_NE(pair.chain().ensemble[0].stage, pair.chain().ensemble[1].stage) << "each member is a model of its own";
  const auto batch = single.samples(8);
  ASSERT_EQ(batch.size(), 8u);
  EXPECT_LE(largest_difference(single.probabilities(batch), pair.probabilities(batch)), 1e-7);
  // In the inference form too: prepare_models folds every member.
  single.pipeline().prepare_models(ModelForm::Inference);
  pair.pipeline().prepare_models(ModelForm::Inference);
  EXPECT_LE(largest_difference(single.probabilities(batch), pair.probabilities(batch)), 1e-7);
}

TEST(Ensemble, TwoCheckpointsAverageTheirProbabilitiesOrTheirLogits) {
  radpipe::testing::TempFolder folder;
  const std::string other = random_checkpoint(folder).string();
  TestChain first(cnn_table(demo_weights)), second(cnn_table(other));
  const std::string members = "ensemble = [" + quoted(demo_weights) + ", " + quoted(other) + "]\n";
  TestChain by_probability(cnn_table("", members + "average = \"probability\"\n"));
  TestChain by_logit(cnn_table("", members + "average = \"logit\"\n"));
  const auto batch = first.samples(10);

  const torch::Tensor p1 = first.probabilities(batch), p2 = second.probabilities(batch);
  ASSERT_GT(largest_difference(p1, p2), 0.01) << "the two checkpoints must score differently for the test to mean anything";
  const torch::Tensor mean_probability = (p1 + p2) / 2;
  const torch::Tensor mean_logit = torch::sigmoid((first.logits(batch) + second.logits(batch)) / 2);
  EXPECT_LE(largest_difference(by_probability.probabilities(batch), mean_probability), 1e-6);
  EXPECT_LE(largest_difference(by_logit.probabilities(batch), mean_logit), 1e-6);
  EXPECT_GT(largest_difference(mean_probability, mean_logit), 1e-4) << "the two averages differ on these scores";
}

TEST(Tta, AHorizontalFlipLeavesAHorizontallySymmetricInputAlone) {
  TestChain plain(cnn_table(demo_weights));
  TestChain flipped(cnn_table(demo_weights, "tta_flips = [\"horizontal\"]\n"));
  TestChain upside_down(cnn_table(demo_weights, "tta_flips = [\"vertical\"]\n"));
  const auto symmetric = mirrored(plain.samples(6), true);
  const torch::Tensor alone = plain.probabilities(symmetric);
  EXPECT_LE(largest_difference(flipped.probabilities(symmetric), alone), 1e-6);
  // The images are not symmetric top to bottom: a vertical flip does change the scores.
  EXPECT_GT(largest_difference(upside_down.probabilities(symmetric), alone), 1e-4);
  // On the radiographs as they are, the horizontal flip changes them too.
  const auto batch = plain.samples(6);
  EXPECT_GT(largest_difference(flipped.probabilities(batch), plain.probabilities(batch)), 1e-4);
}

// A TorchScript model that looks at the left half of its input only: logit = 4 x the mean of the
// left half. Two 8x8 images: a ramp whose column j holds j/8 (left half 0.1875, right 0.6875),
// and a constant 0.5.
class AsymmetricModel : public ::testing::Test {
protected:
  void SetUp() override {
    torch::jit::Module module("LeftHalf");
    module.define(R"(
def forward(self, x):
    w = x.size(3)
    return 4.0 * x[:, :, :, : w // 2].mean(dim=[1, 2, 3]).unsqueeze(1)
)");
    script_ = folder_.path() / "left-half.pt";
    module.save(script_.string());
    cv::Mat ramp(8, 8, CV_32F), constant(8, 8, CV_32F, cv::Scalar(0.5));
    for (int row = 0; row < 8; ++row)
      for (int col = 0; col < 8; ++col) ramp.at<float>(row, col) = static_cast<float>(col) / 8.0f;
    batch_ = {Sample{{}, ramp}, Sample{{}, constant}};
    batch_[0].info.id = "ramp";
    batch_[1].info.id = "constant";
  }

  // The two images' probabilities from the model with `extra` host keys.
  std::pair<double, double> scores(const std::string& extra) {
    TestChain built("stage = \"torchscript\"\nfile = " + quoted(script_.string()) + "\ninput_channels = 1\ndevice = \"cpu\"\n" + extra);
    const torch::Tensor p = built.probabilities(batch_);
    return {p[0].item<double>(), p[1].item<double>()};
  }

  static double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

  radpipe::testing::TempFolder folder_;
  std::filesystem::path script_;
  std::vector<Sample> batch_;
};

TEST_F(AsymmetricModel, TtaScoresAreTheOnesComputedByHand) {
  const double constant = sigmoid(2.0); // every view of a constant image has a left half of 0.5
  auto [ramp, flat] = scores("");
  EXPECT_NEAR(ramp, sigmoid(0.75), 1e-6);
  EXPECT_NEAR(flat, constant, 1e-6);

  // Flipped, the ramp's left half holds 0.6875: logit 2.75.
  std::tie(ramp, flat) = scores("tta_flips = [\"horizontal\"]\naverage = \"probability\"\n");
  EXPECT_NEAR(ramp, (sigmoid(0.75) + sigmoid(2.75)) / 2, 1e-6);
  EXPECT_NEAR(flat, constant, 1e-6);
  std::tie(ramp, flat) = scores("tta_flips = [\"horizontal\"]\naverage = \"logit\"\n");
  EXPECT_NEAR(ramp, sigmoid((0.75 + 2.75) / 2), 1e-6);
  EXPECT_NEAR(flat, constant, 1e-6);

  // Columns are all the model sees: a vertical flip changes nothing.
  std::tie(ramp, flat) = scores("tta_flips = [\"vertical\"]\n");
  EXPECT_NEAR(ramp, sigmoid(0.75), 1e-6);

  // Shifted by one pixel, the edge column repeated: right (0, 0, 1, 2)/8, left (1, 2, 3, 4)/8,
  // up and down as unshifted (1.5/8): logits 0.75, 0.375, 1.25, 0.75, 0.75.
  std::tie(ramp, flat) = scores("tta_shift = 1\naverage = \"logit\"\n");
  EXPECT_NEAR(ramp, sigmoid((0.75 + 0.375 + 1.25 + 0.75 + 0.75) / 5), 1e-6);
  EXPECT_NEAR(flat, constant, 1e-6);
  std::tie(ramp, flat) = scores("tta_shift = 1\naverage = \"probability\"\n");
  EXPECT_NEAR(ramp, (3 * sigmoid(0.75) + sigmoid(0.375) + sigmoid(1.25)) / 5, 1e-6);

  // Crops of half the side (4x4 at x = 0, 4, 0, 4, 2) resized to 8x8 bilinearly (half-pixel
  // centres): the resized left half samples the crop's columns 0, 0.25, 0.75 and 1.25, a mean of
  // 0.5625 columns past the crop's left edge x. Left halves: (x + 0.5625) / 8.
  std::tie(ramp, flat) = scores("tta_crop = 0.5\naverage = \"logit\"\n");
  const double crops = 2 * 0.5625 + 2 * 4.5625 + 2.5625;
  EXPECT_NEAR(ramp, sigmoid(4.0 * (1.5 + crops) / 8.0 / 6.0), 1e-5);
  EXPECT_NEAR(flat, constant, 1e-6);
}

TEST(Tta, EachViewsMapGoesBackWhereTheViewSawIt) {
  const torch::Tensor frame = torch::rand({2, 1, 16, 20});
  for (const auto& view : tta_views({true, true, 3, 1.0}, 16, 20)) {
    const FrameMap back = view_map_back(view, apply_view(view, frame).squeeze(1));
    const torch::Tensor seen = back.coverage.to(torch::kBool);
    EXPECT_TRUE(torch::equal(back.map.masked_select(seen.expand({2, 16, 20})), frame.squeeze(1).masked_select(seen.expand({2, 16, 20}))))
        << view.describe();
    const double share = back.coverage.mean().item<double>();
    if (view.kind == TtaView::Kind::Shift) EXPECT_NEAR(share, view.x != 0 ? 17.0 / 20 : 13.0 / 16, 1e-6) << view.describe();
    else EXPECT_EQ(share, 1.0) << view.describe();
  }
  // Five crops of 0.75: 12x15 at the four corners and the centre, placed back there.
  const auto views = tta_views({false, false, 0, 0.75}, 16, 20);
  ASSERT_EQ(views.size(), 6u);
  EXPECT_EQ(views.back().describe(), "crop 15x12 at (2, 2)");
  const FrameMap corner = view_map_back(views[4], torch::ones({1, 16, 20}));
  EXPECT_EQ(corner.coverage.sum().item<double>(), 12.0 * 15.0);
  EXPECT_EQ(corner.coverage[4][5].item<double>(), 1.0);
  EXPECT_EQ(corner.coverage[3][5].item<double>(), 0.0);
  EXPECT_THROW(tta_views({false, false, 16, 1.0}, 16, 20), std::runtime_error);
}

TEST(Tta, ExplainedMapsComeBackToTheUnaugmentedFrame) {
  TestChain plain(cnn_table(demo_weights));
  TestChain flipped(cnn_table(demo_weights, "tta_flips = [\"horizontal\"]\n"));
  const auto batch = plain.samples(4);

  // A map of a left-right symmetric input is asymmetric; the flip-TTA map is symmetric.
  const auto symmetric = mirrored(batch, true);
  const torch::Tensor alone = plain.heatmaps(symmetric), averaged = flipped.heatmaps(symmetric);
  ASSERT_EQ(averaged.sizes(), (std::vector<std::int64_t>{4, 128, 128}));
  EXPECT_GT(largest_difference(alone, alone.flip({2})), 1e-3) << "Grad-CAM of this model is not mirror-symmetric";
  EXPECT_LE(largest_difference(averaged, averaged.flip({2})), 1e-5);

  // On a radiograph: the mean of its map and the mirrored map of its mirror image.
  const torch::Tensor expected = (plain.heatmaps(batch) + plain.heatmaps(mirrored(batch, false)).flip({2})) / 2;
  EXPECT_LE(largest_difference(flipped.heatmaps(batch), expected), 1e-5);

  // An ensemble of the same checkpoint twice explains as the model alone; every TTA at once keeps
  // the maps' shape and range.
  TestChain pair(cnn_table("", "ensemble = [" + quoted(demo_weights) + ", " + quoted(demo_weights) +
                               "]\ntta_flips = [\"horizontal\"]\n"));
  EXPECT_LE(largest_difference(pair.heatmaps(batch), flipped.heatmaps(batch)), 1e-5);
  TestChain everything(cnn_table("", "ensemble = [" + quoted(demo_weights) + ", " + quoted(demo_weights) +
                                     "]\ntta_flips = [\"horizontal\", \"vertical\"]\ntta_shift = 4\ntta_crop = 0.875\n"));
  const torch::Tensor all = everything.heatmaps(batch);
  ASSERT_EQ(all.sizes(), (std::vector<std::int64_t>{4, 128, 128}));
  EXPECT_GE(all.min().item<double>(), 0.0);
  EXPECT_LE(all.max().item<double>(), 1.0 + 1e-6);
}

TEST(EnsembleConfig, ErrorsNameFileLineColumnAndKey) {
  const std::string text = pipeline_text(cnn_table("", "ensemble = [" + quoted(demo_weights) +
                                                           ", \"missing.pt\"]\naverage = \"median\"\ntta_flips = [\"sideways\"]\n"
                                                           "tta_crop = 0.1\n"));
  std::vector<std::string> messages;
  for (const auto& diagnostic : parse_pipeline(text, "/pipelines/test.toml", real_plugins()).diagnostics)
    messages.push_back(format(diagnostic));
  // The [model] table starts on line 17; its keys follow stage, blocks, width, input_channels,
  // dropout and device: ensemble on line 24, average 25, tta_flips 26, tta_crop 27.
  const std::string ensemble_column = std::to_string(std::string("ensemble = [" + quoted(demo_weights) + ", ").size() + 1);
  const std::vector<std::string> expected{
      "/pipelines/test.toml:24:" + ensemble_column +
          ": error: key 'ensemble' in [model]: item 1: no such file: /pipelines/missing.pt (relative paths resolve against the "
          "pipeline file's folder)",
      "/pipelines/test.toml:25:11: error: key 'average' in [model]: \"median\" is not one of \"probability\", \"logit\"",
      "/pipelines/test.toml:26:13: error: key 'tta_flips' in [model]: item 0 (\"sideways\") is not one of \"horizontal\", \"vertical\"",
      "/pipelines/test.toml:27:12: error: key 'tta_crop' in [model]: value 0.1 is out of range: must be between 0.25 and 1",
  };
  for (const auto& message : expected)
    EXPECT_NE(std::find(messages.begin(), messages.end(), message), messages.end())
        << "missing: " << message << "\ngot:\n" << [&] {
             std::string all;
             for (const auto& each : messages) all += each + "\n";
             return all;
           }();
  EXPECT_EQ(messages.size(), expected.size());

  // Paths resolve against the pipeline's folder; a folder is not a weights file.
  const auto models = source_dir / "samples" / "models";
  auto relative = parse_pipeline(pipeline_text(cnn_table("", "ensemble = [\"fracatlas-cnn5.pt\"]\n")), models / "p.toml", real_plugins());
  ASSERT_TRUE(relative.config) << format(relative.diagnostics.front());
  EXPECT_EQ(relative.config->chains.front().ensemble(), std::vector<std::string>{demo_weights});
  auto folder = parse_pipeline(pipeline_text(cnn_table("", "ensemble = [\".\"]\n")), models / "p.toml", real_plugins());
  ASSERT_EQ(folder.diagnostics.size(), 1u);
  EXPECT_NE(format(folder.diagnostics[0]).find("key 'ensemble' in [model]: item 0: " + models.string()), std::string::npos)
      << format(folder.diagnostics[0]);
  EXPECT_NE(format(folder.diagnostics[0]).find(" is a folder; name the weights file in it"), std::string::npos)
      << format(folder.diagnostics[0]);
}

TEST(EnsembleConfig, ACheckpointReplacesOneModelNotAnEnsemble) {
  auto result = parse_pipeline(pipeline_text(cnn_table("", "ensemble = [" + quoted(demo_weights) + "]\n")), "/pipelines/test.toml",
                               real_plugins());
  ASSERT_TRUE(result.config);
  BuildOptions options;
  options.checkpoint = source_dir / "samples" / "models";
  try {
    Pipeline pipeline(*result.config, real_plugins(), options);
    FAIL() << "an ensemble chain took --checkpoint";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("/pipelines/test.toml:24:12: error: [model] is an ensemble of 1 weights file, and "
                                             "--checkpoint"),
              std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("--set model.ensemble=[]"), std::string::npos) << error.what();
  }
  EXPECT_EQ(scoring_summary(result.config->chains.front()), "ensemble of 1");
}
