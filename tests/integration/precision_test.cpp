// Numeric precision (docs/distributed.md, "GPU"): the autocast scope and the loss scaler on their
// own, then bf16 autocast on the CPU through the real binary, in prediction and in training.
#include "runtime/precision.hpp"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <radpipe/csv_rows.hpp>
#include <radpipe/testing.hpp>
#include <sstream>

namespace fs = std::filesystem;
using namespace radpipe::host;
using radpipe::testing::read_text;
using radpipe::testing::read_csv_rows;

namespace {


torch::Tensor convolve(const torch::Tensor& input) {
  torch::manual_seed(3);
  return torch::conv2d(input, torch::randn({4, 1, 3, 3}));
}

} // namespace

TEST(AutocastScope, CastsTheForwardPassOnTheCpuAndRestoresTheStateAfter) {
  const auto input = torch::randn({1, 1, 8, 8});
  EXPECT_EQ(convolve(input).scalar_type(), torch::kFloat32);
  {
    const AutocastScope outer(torch::Device(torch::kCPU), Precision::bf16);
    EXPECT_EQ(convolve(input).scalar_type(), torch::kBFloat16);
    {
      const AutocastScope inner(torch::Device(torch::kCPU), Precision::bf16);
      EXPECT_EQ(convolve(input).scalar_type(), torch::kBFloat16);
    }
    EXPECT_EQ(convolve(input).scalar_type(), torch::kBFloat16); // the inner scope restored "on"
    const AutocastScope none(torch::Device(torch::kCPU), Precision::fp32);
    EXPECT_EQ(convolve(input).scalar_type(), torch::kBFloat16); // fp32 changes nothing
  }
  EXPECT_EQ(convolve(input).scalar_type(), torch::kFloat32);
}

TEST(Precision, Fp16IsRefusedOffCuda) {
  EXPECT_EQ(parse_precision("bf16"), Precision::bf16);
  EXPECT_FALSE(parse_precision("float16"));
  EXPECT_NE(precision_problem(Precision::fp16, torch::Device(torch::kCPU)).find("CUDA devices only"),
            std::string::npos);
  EXPECT_EQ(precision_problem(Precision::bf16, torch::Device(torch::kCPU)), "");
  EXPECT_EQ(precision_problem(Precision::fp16, torch::Device(torch::kCUDA, 1)), "");
}

// torch.cuda.amp.GradScaler's rule: an overflow halves the scale and is reported, growth_interval
// finite steps in a row double it; unscale divides the gradients by the scale.
TEST(LossScaler, BacksOffOnOverflowAndGrowsAfterFiniteSteps) {
  LossScaler scaler(1024.0, 2.0, 0.5, 3);
  auto weight = torch::ones({2}, torch::requires_grad());
  scaler.scaled((weight * 3).sum()).backward();
  EXPECT_DOUBLE_EQ(weight.grad()[0].item<double>(), 3.0 * 1024);
  EXPECT_TRUE(scaler.unscale({weight}));
  EXPECT_DOUBLE_EQ(weight.grad()[0].item<double>(), 3.0);
  scaler.update(true);
  scaler.update(true);
  EXPECT_EQ(scaler.scale(), 1024.0);
  scaler.update(true);
  EXPECT_EQ(scaler.scale(), 2048.0);

  weight.mutable_grad() = torch::tensor({1.0f, INFINITY});
  EXPECT_FALSE(scaler.unscale({weight}));
  scaler.update(false);
  EXPECT_EQ(scaler.scale(), 1024.0);
}

class PrecisionCliTest : public ::testing::Test {
 protected:
  // 48 FracAtlas images at 32x32 through the demo CNN (BatchNorm, no dropout, no random step).
  fs::path write_pipeline(const std::string& extra = "") {
    const fs::path file = folder_ / "pipeline.toml";
    std::ofstream(file)
        << "[pipeline]\nname = \"precision\"\nseed = 5\nbatch_size = 8\nworkers = 1\nthreads = 1\n"
        << "[reader]\nstage = \"csv\"\nfile = \"" << RADPIPE_SHARED_DIR << "/data/fracatlas/labels.csv\"\n"
        << "label_column = \"fractured\"\nbody_part_column = \"body_part\"\n"
        << "[[preprocess]]\nstage = \"grayscale\"\n[[preprocess]]\nstage = \"resize\"\nsize = [32, 32]\n"
        << "[[preprocess]]\nstage = \"normalize\"\n"
        << "[model]\nstage = \"cnn\"\nblocks = 2\nwidth = 8\ndevice = \"cpu\"\n[aggregate]\nstage = "
           "\"mean\"\n"
        << "[train]\nepochs = 3\noptimizer = \"adam\"\nlearning_rate = 0.003\nscheduler = "
           "\"none\"\nkeep_best = 1\n"
        << "limit = 48\nclass_weights = \"none\"\n"
        << extra;
    return file;
  }

  int radpipe(const std::string& arguments) {
    const std::string command = std::string("timeout 300 ") + RADPIPE_EXECUTABLE + " --threads 1 " +
                                arguments + " >>" + (folder_ / "log.txt").string() + " 2>&1";
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string log() const { return read_text(folder_ / "log.txt"); }

  radpipe::testing::TempFolder temporary_;
  const fs::path& folder_ = temporary_.path();
};

// Scoring the same trained weights in bf16 autocast moves each probability by little. bf16 keeps
// 8 significant bits (relative rounding 2^-9, about 0.2%) while oneDNN accumulates its
// convolutions in float32, so each layer's output moves by about 0.2-1%; through the CNN's few
// layers the logits move by a few hundredths at most, and a probability, whose slope in the logit
// is at most 1/4, by under 0.02. Equal probabilities would mean that autocast never ran.
TEST_F(PrecisionCliTest, Bf16PredictionsAgreeWithFp32) {
  const fs::path pipeline = write_pipeline();
  ASSERT_EQ(
      radpipe("train " + pipeline.string() + " --set train.epochs=1 --out " + (folder_ / "run").string()), 0)
      << log();
  const std::string checkpoint =
      " --checkpoint " + (folder_ / "run" / "checkpoints" / "last").string() + " --limit 64";
  ASSERT_EQ(radpipe("predict " + pipeline.string() + checkpoint + " --out " + (folder_ / "fp32").string()), 0)
      << log();
  ASSERT_EQ(radpipe("predict " + pipeline.string() + checkpoint + " --set model.precision=bf16 --out " +
                    (folder_ / "bf16").string()),
            0)
      << log();
  EXPECT_NE(log().find("scoring in bf16 autocast"), std::string::npos) << log();
  const auto full = read_csv_rows(folder_ / "fp32" / "predictions.csv"),
             half = read_csv_rows(folder_ / "bf16" / "predictions.csv");
  ASSERT_EQ(full.size(), 64u);
  ASSERT_EQ(half.size(), full.size());
  double largest = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    ASSERT_EQ(full[i].at("id"), half[i].at("id"));
    largest = std::max(largest,
                       std::abs(std::stod(full[i].at("probability")) - std::stod(half[i].at("probability"))));
  }
  std::cout << "largest difference of a probability, bf16 against fp32: " << largest << "\n";
  EXPECT_LT(largest, 0.02);
  EXPECT_GT(largest, 1e-6);
}

// Training in bf16 autocast on the CPU learns: three epochs over the same 48 images lower the
// training loss, as in float32, and end on weights of their own (autocast ran).
TEST_F(PrecisionCliTest, Bf16TrainingLowersTheLoss) {
  const fs::path pipeline = write_pipeline();
  ASSERT_EQ(radpipe("train " + pipeline.string() + " --set train.precision=bf16 --out " +
                    (folder_ / "bf16").string()),
            0)
      << log();
  EXPECT_NE(log().find("training forward pass in bf16 autocast on cpu"), std::string::npos) << log();
  const auto history = read_csv_rows(folder_ / "bf16" / "history.csv");
  ASSERT_EQ(history.size(), 3u);
  const double first = std::stod(history.front().at("train_loss")),
               last = std::stod(history.back().at("train_loss"));
  EXPECT_TRUE(std::isfinite(first) && std::isfinite(last));
  std::cout << "bf16 training loss, epoch 1 -> 3: " << first << " -> " << last << "\n";
  EXPECT_LT(last, first * 0.95) << read_text(folder_ / "bf16" / "history.csv");

  ASSERT_EQ(radpipe("train " + pipeline.string() + " --out " + (folder_ / "fp32").string()), 0) << log();
  EXPECT_NE(read_text(folder_ / "bf16" / "checkpoints" / "last" / "model.pt"),
            read_text(folder_ / "fp32" / "checkpoints" / "last" / "model.pt"));
}

// The retired key names its replacement at its place in the file; fp16 off CUDA is refused,
// naming where the pipeline asks for it.
TEST_F(PrecisionCliTest, MixedPrecisionAndFp16OnTheCpuAreRefused) {
  EXPECT_EQ(radpipe("check " + write_pipeline("mixed_precision = true\n").string()), 1) << log();
  EXPECT_NE(
      log().find("pipeline.toml:34:1: error: key 'mixed_precision' in [train] was replaced by 'precision'"),
      std::string::npos)
      << log();
  const fs::path pipeline = write_pipeline();
  EXPECT_NE(radpipe("train " + pipeline.string() + " --set train.precision=fp16 --out " +
                    (folder_ / "fp16").string()),
            0)
      << log();
  EXPECT_NE(log().find("[train] of model on cpu: precision \"fp16\" runs on CUDA devices only"),
            std::string::npos)
      << log();
  EXPECT_NE(radpipe("predict " + pipeline.string() + " --set model.precision=fp16 --limit 4 --out " +
                    (folder_ / "p").string()),
            0)
      << log();
  EXPECT_NE(log().find("[model] on cpu: precision \"fp16\" runs on CUDA devices only"), std::string::npos)
      << log();
}
