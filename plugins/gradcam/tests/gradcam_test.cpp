// Tests of the Grad-CAM explainers. Exact expectations come from a hand-built model whose heatmap
// can be worked out on paper; the real networks of the torch_models plugin check that the
// explainer works where it is used (frozen layers, no-grad callers, batches).
#include "gradcam.hpp"
#include "models.hpp"

#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
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

// A model that has learnt something checkable: a small CNN trained here to tell 32x32 noise
// images with a bright 10x10 square (positives) from noise alone, so that the evidence for
// "positive" is known to be the square. Trained once for every test below (about a second).
class TrainedOnSquares : public ::testing::Test {
protected:
  static constexpr int size = 32, side = 10;

  struct Images {
    torch::Tensor pixels;                 // [N, 1, size, size]
    torch::Tensor labels;                 // [N]
    std::vector<std::array<int, 2>> corner; // top-left (row, column) of each positive's square
  };

  static Images make_images(int count, std::uint64_t seed) {
    torch::manual_seed(seed);
    Images images{(0.35 + 0.12 * torch::randn({count, 1, size, size})).clamp(0, 1), torch::zeros({count}), {}};
    auto positions = torch::randint(0, size - side + 1, {count, 2});
    for (int i = 0; i < count; ++i) {
      if (i % 2 == 0) {
        images.corner.push_back({-1, -1});
        continue;
      }
      const int row = positions[i][0].item<int>(), column = positions[i][1].item<int>();
      using torch::indexing::Slice;
      images.pixels.index_put_({i, 0, Slice(row, row + side), Slice(column, column + side)}, 0.95);
      images.labels[i] = 1.0;
      images.corner.push_back({row, column});
    }
    return images;
  }

  static std::unique_ptr<torch_models::CnnModel> make_model(std::uint64_t seed, std::vector<std::int64_t> hidden = {}) {
    torch::manual_seed(seed);
    return std::make_unique<torch_models::CnnModel>(resolve_params(torch_models::CnnModel::schema(),
                                                                   {{"blocks", std::int64_t{2}},
                                                                    {"width", std::int64_t{8}},
                                                                    {"input_channels", std::int64_t{1}},
                                                                    {"hidden", hidden}}),
                                                    quiet_context());
  }

  static void SetUpTestSuite() {
    torch::set_num_threads(1);
    model_ = make_model(11).release();
    const Images train = make_images(256, 1);
    torch::optim::Adam optimizer(model_->trainable()->parameters(), torch::optim::AdamOptions(3e-3));
    model_->set_training(true);
    for (int epoch = 0; epoch < 8; ++epoch)
      for (int start = 0; start < 256; start += 32) {
        optimizer.zero_grad();
        auto logits = model_->forward(train.pixels.slice(0, start, start + 32)).logits.view({-1});
        torch::binary_cross_entropy_with_logits(logits, train.labels.slice(0, start, start + 32)).backward();
        optimizer.step();
      }
    model_->set_training(false);
    test_ = new Images(make_images(100, 2));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete test_;
  }

  // Share of the positives whose heatmap peaks inside their square.
  static double peaks_in_square(const torch::Tensor& heat) {
    int inside = 0, positives = 0;
    for (std::size_t i = 0; i < test_->corner.size(); ++i) {
      const auto [row, column] = test_->corner[i];
      if (row < 0) continue;
      ++positives;
      const auto peak = heat[static_cast<long>(i)].flatten().argmax().item<long>();
      const long peak_row = peak / size, peak_column = peak % size;
      inside += peak_row >= row && peak_row < row + side && peak_column >= column && peak_column < column + side;
    }
    return static_cast<double>(inside) / positives;
  }

  static torch_models::CnnModel* model_;
  static Images* test_;
};

torch_models::CnnModel* TrainedOnSquares::model_ = nullptr;
TrainedOnSquares::Images* TrainedOnSquares::test_ = nullptr;

// Spearman's rank correlation of two maps over their pixels (ties get their mean rank, which
// matters: relu leaves many zeros). 0 when a map is constant: it carries no ranking at all.
double rank_correlation(const torch::Tensor& a, const torch::Tensor& b) {
  auto ranks = [](const torch::Tensor& map) {
    auto values = map.flatten().to(torch::kFloat64).contiguous();
    const auto n = values.size(0);
    auto order = values.argsort();
    auto sorted = values.index_select(0, order);
    std::vector<double> rank(static_cast<std::size_t>(n));
    const double* v = sorted.data_ptr<double>();
    const std::int64_t* o = order.data_ptr<std::int64_t>();
    for (std::int64_t start = 0; start < n;) {
      std::int64_t end = start;
      while (end < n && v[end] == v[start]) ++end;
      for (std::int64_t k = start; k < end; ++k) rank[static_cast<std::size_t>(o[k])] = (start + end - 1) / 2.0;
      start = end;
    }
    return torch::tensor(rank, torch::kFloat64);
  };
  auto x = ranks(a), y = ranks(b);
  x -= x.mean();
  y -= y.mean();
  const double denominator = std::sqrt((x * x).sum().item<double>() * (y * y).sum().item<double>());
  return denominator > 0 ? (x * y).sum().item<double>() / denominator : 0.0;
}

double mean_rank_correlation(const torch::Tensor& first, const torch::Tensor& second, const std::vector<std::array<int, 2>>& corner) {
  double sum = 0;
  int count = 0;
  for (std::size_t i = 0; i < corner.size(); ++i)
    if (corner[i][0] >= 0) {
      sum += rank_correlation(first[static_cast<long>(i)], second[static_cast<long>(i)]);
      ++count;
    }
  return sum / count;
}

TEST_F(TrainedOnSquares, TheModelLearntTheTask) {
  torch::NoGradGuard no_gradients;
  auto probabilities = torch::sigmoid(model_->forward(test_->pixels).logits.view({-1}));
  const double accuracy = ((probabilities >= 0.5).to(torch::kFloat32) == test_->labels).to(torch::kFloat32).mean().item<double>();
  EXPECT_GE(accuracy, 0.95) << "the explanations below explain a model that works";
}

// Localization: where the evidence is known, Grad-CAM (and Grad-CAM++) must point at it.
TEST_F(TrainedOnSquares, GradCamPeaksInsideTheSquareForNineInTenPositives) {
  const auto heat = make_explainer("mean")->explain(*model_, test_->pixels, 0);
  const double share = peaks_in_square(heat);
  RecordProperty("gradcam_peak_in_square", std::to_string(share));
  EXPECT_GE(share, 0.9);
  EXPECT_GE(peaks_in_square(make_explainer("plusplus")->explain(*model_, test_->pixels, 0)), 0.9);
}

// Sanity (Adebayo et al., 2018, model parameter randomization): maps that barely change when the
// learnt weights are replaced by random ones explain the input, not the model. The same maps of
// slightly noisier copies of the images show that the measure can be high.
TEST_F(TrainedOnSquares, RandomizingTheWeightsChangesTheMapsButNoiseDoesNot) {
  auto explainer = make_explainer("mean");
  const auto trained = explainer->explain(*model_, test_->pixels, 0);
  auto random_model = make_model(12345);
  random_model->set_training(false);
  const auto randomized = explainer->explain(*random_model, test_->pixels, 0);
  torch::manual_seed(9);
  const auto noisier = explainer->explain(*model_, (test_->pixels + 0.02 * torch::randn_like(test_->pixels)).clamp(0, 1), 0);
  const double after_randomization = mean_rank_correlation(trained, randomized, test_->corner);
  const double after_noise = mean_rank_correlation(trained, noisier, test_->corner);
  RecordProperty("rank_correlation_randomized", std::to_string(after_randomization));
  RecordProperty("rank_correlation_noise", std::to_string(after_noise));
  EXPECT_LT(after_randomization, 0.5);
  EXPECT_GT(after_noise, 0.8);
  EXPECT_GT(after_noise - after_randomization, 0.4);
}

// CAM on the globally pooled CNN with a linear head: the head's weights times the feature map,
// which (divided by its maximum after cutting negatives) is Grad-CAM's map for such a model, and
// whose mean plus the head's bias is the logit.
TEST_F(TrainedOnSquares, CamIsTheLinearHeadsMapAndLocalizesToo) {
  auto cam = std::make_unique<gradcam::Cam>(resolve_params(gradcam::Cam::schema(), {{"scaling", std::string("positive")}}), StageContext{});
  const auto positive = cam->explain(*model_, test_->pixels, 0);
  const auto gradcam = make_explainer("mean")->explain(*model_, test_->pixels, 0);
  EXPECT_TRUE(torch::allclose(positive, gradcam, 1e-4, 1e-5));

  torch::NoGradGuard no_gradients;
  const auto output = model_->forward(test_->pixels.slice(0, 0, 4));
  torch::Tensor weight, bias;
  for (const auto& item : model_->trainable()->named_parameters()) {
    if (item.key() == "classifier.weight") weight = item.value();
    if (item.key() == "classifier.bias") bias = item.value();
  }
  ASSERT_TRUE(weight.defined() && bias.defined());
  const auto raw = (weight.view({1, -1, 1, 1}) * output.features).sum(1);
  EXPECT_TRUE(torch::allclose(raw.mean({1, 2}) + bias, output.logits.view({-1}), 1e-4, 1e-5))
      << "a CAM decomposes the logit over the positions";

  auto min_max = std::make_unique<gradcam::Cam>(resolve_params(gradcam::Cam::schema(), {}), StageContext{});
  const auto stretched = min_max->explain(*model_, test_->pixels, 0);
  EXPECT_NEAR(std::get<0>(stretched.flatten(1).min(1)).max().item<float>(), 0.0f, 1e-6);
  EXPECT_NEAR(std::get<0>(stretched.flatten(1).max(1)).min().item<float>(), 1.0f, 1e-6);
  EXPECT_GE(peaks_in_square(stretched), 0.9);
}

TEST_F(TrainedOnSquares, CamRefusesAHeadWithHiddenLayers) {
  auto deeper = make_model(3, {8});
  deeper->set_training(false);
  auto cam = std::make_unique<gradcam::Cam>(resolve_params(gradcam::Cam::schema(), {}), StageContext{});
  try {
    cam->explain(*deeper, test_->pixels.slice(0, 0, 6), 0);
    FAIL() << "CAM is not defined for a non-linear head";
  } catch (const StageError& error) {
    EXPECT_NE(std::string(error.what()).find("one linear layer"), std::string::npos) << error.what();
  }
}

TEST(GradCamPlugin, EntryDescribesItAndRegistersItsStage) {
  radpipe::testing::expect_plugin_library(std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-gradcam.so", "gradcam",
                                          {{StageKind::Explainer, "gradcam"}, {StageKind::Explainer, "cam"}});
}

} // namespace
