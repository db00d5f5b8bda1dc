#include "runtime/weight_average.hpp"

#include <gtest/gtest.h>
#include <torch/torch.h>

using radpipe::host::WeightAverage;

namespace {

// A convolution and a BatchNorm: floating-point parameters, floating-point running statistics
// and an integer batch count.
struct Small : torch::nn::Module {
  Small() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 3).bias(false)));
    norm = register_module("norm", torch::nn::BatchNorm2d(2));
  }
  void set(float weight, float mean, std::int64_t batches) {
    torch::NoGradGuard no_gradients;
    conv->weight.fill_(weight);
    norm->running_mean.fill_(mean);
    norm->num_batches_tracked.fill_(batches);
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d norm{nullptr};
};

float weight_of(Small& model) { return model.conv->weight.flatten()[0].item<float>(); }
float mean_of(Small& model) { return model.norm->running_mean[0].item<float>(); }
std::int64_t batches_of(Small& model) { return model.norm->num_batches_tracked.item<std::int64_t>(); }

} // namespace

TEST(WeightAverage, DecayWarmsUpThenStaysAtItsCap) {
  Small model;
  const WeightAverage average(model, 0.99);
  EXPECT_DOUBLE_EQ(average.decay_at(0), 0.1);
  EXPECT_DOUBLE_EQ(average.decay_at(1), 2.0 / 11.0);
  EXPECT_DOUBLE_EQ(average.decay_at(80), 81.0 / 90.0);
  EXPECT_DOUBLE_EQ(average.decay_at(10000), 0.99) << "past the warm-up, the configured decay";
}

TEST(WeightAverage, RefusesADecayOutsideZeroToOne) {
  Small model;
  EXPECT_THROW(WeightAverage(model, 0.0), std::invalid_argument);
  EXPECT_THROW(WeightAverage(model, 1.0), std::invalid_argument);
}

// The first update takes the weights as they are; each later one mixes in the new weights with
// the step's decay. Statistics are averaged like weights; the batch count follows the model.
TEST(WeightAverage, UpdatesByTheDecayOfTheStep) {
  Small model;
  WeightAverage average(model, 0.5);
  model.set(1.0F, 10.0F, 1);
  EXPECT_FALSE(average.started());
  average.update(1);
  EXPECT_TRUE(average.started());
  model.set(3.0F, 20.0F, 2);
  average.update(100); // decay 0.5: halfway
  model.set(5.0F, 40.0F, 3);
  average.update(2); // decay 3/12 = 0.25: a quarter of the average, three quarters of the model
  {
    const WeightAverage::InPlace in_place(&average);
    EXPECT_FLOAT_EQ(weight_of(model), 0.25F * 2.0F + 0.75F * 5.0F);
    EXPECT_FLOAT_EQ(mean_of(model), 0.25F * 15.0F + 0.75F * 40.0F);
    EXPECT_EQ(batches_of(model), 3);
  }
  EXPECT_FLOAT_EQ(weight_of(model), 5.0F) << "the live weights come back when the average leaves";
  EXPECT_FLOAT_EQ(mean_of(model), 40.0F);
}

TEST(WeightAverage, SwappingTwiceRestoresBothAndStartingAgainTakesTheModel) {
  Small model;
  WeightAverage average(model, 0.9);
  model.set(2.0F, 0.0F, 0);
  average.update(1);
  model.set(7.0F, 1.0F, 4);
  average.swap();
  EXPECT_FLOAT_EQ(weight_of(model), 2.0F);
  average.swap();
  EXPECT_FLOAT_EQ(weight_of(model), 7.0F);
  average.start_from_module(); // a resumed run: the saved average was loaded into the model
  model.set(9.0F, 1.0F, 4);
  const WeightAverage::InPlace in_place(&average);
  EXPECT_FLOAT_EQ(weight_of(model), 7.0F);
}

// Gradients stay with the parameters: the swaps copy values, so the optimizer's references hold.
TEST(WeightAverage, SwapsValuesWithoutReplacingTheParameters) {
  Small model;
  WeightAverage average(model, 0.9);
  const void* storage = model.conv->weight.data_ptr();
  average.update(1);
  { const WeightAverage::InPlace in_place(&average); }
  EXPECT_EQ(model.conv->weight.data_ptr(), storage);
  EXPECT_TRUE(model.conv->weight.requires_grad());
}
