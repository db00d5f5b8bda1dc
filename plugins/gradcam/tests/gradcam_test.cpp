// Tests of the Grad-CAM explainers. Exact expectations come from a hand-built model whose heatmap
// can be worked out on paper; the real networks of the torch_models plugin check that the
// explainer works where it is used (frozen layers, no-grad callers, batches).
#include "gradcam.hpp"
#include "models.hpp"

#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

using namespace radpipe;

namespace {

// features = [x, 1 - x] (two channels, the input's own pixels), logit = sum_c head[c] * mean(features_c).
// dY/dA_c is therefore head[c] / (h w) at every position, so:
//   Grad-CAM:   weight_c = head[c] / (h w), map = relu(sum_c weight_c A_c)
//   Grad-CAM++: gradients are constant per channel, alpha_c = g_c^2 / (2 g_c^2 + S_c g_c^3) > 0, so the
//               weight of a channel with negative gradient is 0 (relu(g_c) = 0) and map ∝ relu(A_0) = x
//               when head = {+1, -1}.
class LinearEvidenceModel final : public Model {
public:
  explicit LinearEvidenceModel(std::vector<float> head) : head_(torch::tensor(head).view({1, -1})) {}

  int input_channels() const override { return 1; }
  int num_outputs() const override { return 1; }
  ModelOutput forward(const torch::Tensor& images) override {
    auto features = torch::cat({images, 1 - images}, 1);
    auto logits = (features.mean({2, 3}) * head_).sum(1, /*keepdim=*/true);
    return {logits, features};
  }
  torch::nn::Module* trainable() override { return nullptr; }
  void to(const torch::Device&) override {}
  torch::Device device() const override { return torch::kCPU; }
  void set_training(bool) override {}
  void save_weights(const std::filesystem::path&) const override {}
  void load_weights(const std::filesystem::path&) override {}

private:
  torch::Tensor head_;
};

std::unique_ptr<gradcam::GradCam> make_explainer(const std::string& weighting, bool normalize = true) {
  return std::make_unique<gradcam::GradCam>(
      resolve_params(gradcam::GradCam::schema(), {{"weighting", weighting}, {"normalize", normalize}}), StageContext{});
}

// A dark 16x16 image with a bright square at rows 4..7, columns 9..12 and a mid-grey band.
torch::Tensor square_image() {
  auto image = torch::full({1, 1, 16, 16}, 0.1f);
  image.index_put_({0, 0, torch::indexing::Slice(4, 8), torch::indexing::Slice(9, 13)}, 1.0f);
  image.index_put_({0, 0, torch::indexing::Slice(12, 14), torch::indexing::Slice()}, 0.4f);
  return image;
}

TEST(GradCam, MeanWeightingKeepsOnlyThePositiveEvidenceAsDerived) {
  LinearEvidenceModel model({1.0f, -1.0f});
  auto image = square_image();
  auto heat = make_explainer("mean")->explain(model, image, 0);
  ASSERT_EQ(heat.sizes(), (std::vector<std::int64_t>{1, 16, 16}));
  // map ∝ relu(x - (1 - x)) = relu(2x - 1): 1 in the square (x = 1), 0 where x <= 0.5, then / max (= 1).
  auto expected = torch::relu(2 * image[0][0] - 1);
  EXPECT_TRUE(torch::allclose(heat[0], expected, 1e-5, 1e-6)) << heat;
}

TEST(GradCam, PlusPlusWeightingDropsChannelsWithNegativeGradient) {
  LinearEvidenceModel model({1.0f, -1.0f});
  auto image = square_image();
  auto heat = make_explainer("plusplus")->explain(model, image, 0);
  // map ∝ x (channel 0 only), normalised by max x = 1: the grey band (0.4) and background (0.1) stay visible.
  EXPECT_TRUE(torch::allclose(heat[0], image[0][0], 1e-5, 1e-6)) << heat;
}

TEST(GradCam, NoPositiveEvidenceGivesAnEmptyMapNotNoise) {
  LinearEvidenceModel model({-1.0f, -1.0f}); // every weight negative: relu removes everything
  auto heat = make_explainer("mean")->explain(model, square_image(), 0);
  EXPECT_EQ(heat.abs().sum().item<float>(), 0.0f);
}

TEST(GradCam, BatchNormalisationIsPerImageOrShared) {
  LinearEvidenceModel model({1.0f, 0.0f}); // map ∝ x
  auto bright = square_image();
  auto dim = bright * 0.5f;
  auto batch = torch::cat({bright, dim}, 0);
  auto each = make_explainer("mean", true)->explain(model, batch, 0);
  EXPECT_NEAR(each[1].max().item<float>(), 1.0f, 1e-6) << "each map reaches 1 on its own";
  auto shared = make_explainer("mean", false)->explain(model, batch, 0);
  EXPECT_NEAR(shared[0].max().item<float>(), 1.0f, 1e-6);
  EXPECT_NEAR(shared[1].max().item<float>(), 0.5f, 1e-6) << "the dim image keeps half the bright one's evidence";
}

TEST(GradCam, TargetOutOfRangeIsAStageError) {
  LinearEvidenceModel model({1.0f, -1.0f});
  EXPECT_THROW(make_explainer("mean")->explain(model, square_image(), 1), StageError);
  EXPECT_THROW(make_explainer("mean")->explain(model, torch::zeros({16, 16}), 0), StageError);
}

StageContext quiet_context() {
  StageContext context;
  context.log = [](LogLevel, const std::string&) {};
  return context;
}

TEST(GradCamOnRealNetworks, WorksOnFrozenModelsInsideNoGradScopesWithoutTouchingParameterGradients) {
  torch::manual_seed(7);
  torch_models::CnnModel model(resolve_params(torch_models::CnnModel::schema(),
                                              {{"blocks", std::int64_t{3}},
                                               {"width", std::int64_t{4}},
                                               {"input_channels", std::int64_t{1}},
                                               {"freeze", std::vector<std::string>{"features"}}}),
                               quiet_context());
  model.set_training(false);
  auto images = torch::rand({3, 1, 40, 48});
  torch::Tensor heat;
  {
    torch::NoGradGuard caller_has_no_gradients;
    heat = make_explainer("mean")->explain(model, images, 0);
  }
  ASSERT_EQ(heat.sizes(), (std::vector<std::int64_t>{3, 40, 48}));
  EXPECT_GE(heat.min().item<float>(), 0.0f);
  EXPECT_LE(heat.max().item<float>(), 1.0f);
  EXPECT_FALSE(heat.requires_grad());
  for (const auto& parameter : model.trainable()->parameters())
    EXPECT_FALSE(parameter.grad().defined()) << "explaining must not accumulate gradients into the model";
  auto again = make_explainer("mean")->explain(model, images, 0);
  EXPECT_TRUE(torch::equal(heat, again)) << "explaining is deterministic in eval mode";
}

TEST(GradCamPlugin, EntryDescribesItAndRegistersItsStage) {
  radpipe::testing::expect_plugin_library(std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-gradcam.so", "gradcam",
                                          {{StageKind::Explainer, "gradcam"}});
}

} // namespace
