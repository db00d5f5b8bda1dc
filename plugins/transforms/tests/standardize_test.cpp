#include "standardize.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>
#include <random>
#include <vector>

#include "test_support.hpp"

namespace radpipe::transforms {
namespace {

Standardize make(std::map<std::string, ParamValue> values = {}) {
  return Standardize(resolve_params(Standardize::schema(), std::move(values)), StageContext{});
}

Sample sample_of(const cv::Mat& image, const std::string& id = "test") {
  Sample sample;
  sample.info.id = id;
  sample.info.path = "/in/memory/" + id + ".png";
  sample.image = image;
  return sample;
}

void fit(Standardize& stage, const std::vector<cv::Mat>& images) {
  stage.fit_begin();
  for (const cv::Mat& image : images) stage.fit_add(sample_of(image));
  stage.fit_end();
}

cv::Mat apply(const Standardize& stage, const cv::Mat& image) {
  Sample sample = sample_of(image);
  stage.apply(sample, TransformContext{});
  return sample.image;
}

double relative_error(double actual, double expected) {
  if (std::isnan(actual)) return std::numeric_limits<double>::infinity();
  return std::abs(actual - expected) / std::abs(expected);
}

// The largest relative error of a float64 image against a reference image, pixel by pixel.
double max_relative_error(const cv::Mat& actual, const cv::Mat& expected) {
  double worst = 0.0;
  for (int i = 0; i < static_cast<int>(expected.total()); ++i)
    worst = std::max(worst, relative_error(actual.at<double>(i), expected.at<double>(i)));
  return worst;
}

// 3,000 16-bit 8x8 images with a large mean (about 0.9 on the [0, 1] scale) and a tiny spread
// (uniform +-20 levels, std about 1.8e-4): the data on which sum-of-squares formulas in float32
// fall apart, since the variance is ~1e-7 of the mean square they subtract it from.
std::vector<cv::Mat> bright_low_variance_images() {
  std::mt19937 generator(7); // mt19937's sequence is fixed by the standard: the same data everywhere
  std::vector<cv::Mat> images;
  for (int k = 0; k < 3000; ++k) {
    cv::Mat image(8, 8, CV_16UC1);
    for (int p = 0; p < 64; ++p)
      image.at<std::uint16_t>(p) =
          static_cast<std::uint16_t>(59000 + 13 * p + static_cast<int>(generator() % 41) - 20);
    images.push_back(image);
  }
  return images;
}

TEST(Standardize, StreamingFitMatchesTwoPassFloat64AndNaiveFloat32DoesNot) {
  const std::vector<cv::Mat> images = bright_low_variance_images();
  const double n = static_cast<double>(images.size());
  const double scale = 1.0 / 65535.0;

  // The reference: two passes in float64, per pixel and over everything.
  cv::Mat mean(8, 8, CV_64F, cv::Scalar(0)), m2(8, 8, CV_64F, cv::Scalar(0));
  double total = 0.0;
  for (const cv::Mat& image : images)
    for (int p = 0; p < 64; ++p) {
      mean.at<double>(p) += image.at<std::uint16_t>(p) * scale;
      total += image.at<std::uint16_t>(p) * scale;
    }
  mean /= n;
  const double grand_mean = total / (n * 64);
  double grand_m2 = 0.0;
  for (const cv::Mat& image : images)
    for (int p = 0; p < 64; ++p) {
      const double x = image.at<std::uint16_t>(p) * scale;
      m2.at<double>(p) += (x - mean.at<double>(p)) * (x - mean.at<double>(p));
      grand_m2 += (x - grand_mean) * (x - grand_mean);
    }
  cv::Mat std_image;
  cv::sqrt(m2 / n, std_image);
  const double grand_std = std::sqrt(grand_m2 / (n * 64));

  Standardize stage = make({{"mode", std::string("per_pixel")}});
  fit(stage, images);
  const StandardizeStatistics& fitted = stage.statistics();
  EXPECT_EQ(fitted.images, 3000u);
  EXPECT_LE(max_relative_error(fitted.pixel_mean, mean), 1e-9);
  EXPECT_LE(max_relative_error(fitted.pixel_std, std_image), 1e-9);
  EXPECT_LE(relative_error(fitted.mean, grand_mean), 1e-9);
  EXPECT_LE(relative_error(fitted.std, grand_std), 1e-9);

  // The naive alternative: float32 sums of x and x^2, var = E[x^2] - E[x]^2. Each addition to a
  // running sum near 2750 (3000 * 0.92) rounds by up to half a float32 step there, 2^-13, so the
  // mean drifts by about 1e-5 relative and E[x^2] by about 1e-5 absolute: hundreds of times the
  // variance itself (3e-8), so the std is wrong in its leading digit or not a number at all.
  double worst_mean = 0.0, worst_std = 0.0;
  for (int p = 0; p < 64; ++p) {
    float sum = 0.0f, squares = 0.0f;
    for (const cv::Mat& image : images) {
      const float x = static_cast<float>(image.at<std::uint16_t>(p)) / 65535.0f;
      sum += x;
      squares += x * x;
    }
    const float naive_mean = sum / 3000.0f;
    const float naive_std = std::sqrt(squares / 3000.0f - naive_mean * naive_mean);
    worst_mean = std::max(worst_mean, relative_error(naive_mean, mean.at<double>(p)));
    worst_std = std::max(worst_std, relative_error(naive_std, std_image.at<double>(p)));
  }
  EXPECT_GT(worst_mean, 1e-7) << "float32 sums were expected to drift";
  EXPECT_GT(worst_std, 0.1) << "float32 E[x^2] - E[x]^2 was expected to lose the variance";
}

TEST(Standardize, PerPixelAndScalarStatisticsByHand) {
  // Three 8-bit 1x2 images. Pixel 0 holds 0, 51, 102 -> 0, 0.2, 0.4: mean 0.2, population
  // variance (0.04 + 0 + 0.04) / 3, std 0.1632993. Pixel 1 is always 255 -> 1: std 0, floored to
  // min_std 1e-3. Over all six values 0, 0.2, 0.4, 1, 1, 1: mean 0.6, variance
  // (0.36 + 0.16 + 0.04 + 3 * 0.16) / 6 = 0.1733333, std 0.4163332.
  const std::vector<cv::Mat> images{(cv::Mat_<unsigned char>(1, 2) << 0, 255),
                                    (cv::Mat_<unsigned char>(1, 2) << 51, 255),
                                    (cv::Mat_<unsigned char>(1, 2) << 102, 255)};
  const cv::Mat probe = (cv::Mat_<unsigned char>(1, 2) << 102, 255);

  Standardize per_pixel = make({{"mode", std::string("per_pixel")}});
  fit(per_pixel, images);
  EXPECT_NEAR(per_pixel.statistics().pixel_mean.at<double>(0), 0.2, 1e-12);
  EXPECT_NEAR(per_pixel.statistics().pixel_std.at<double>(0), 0.1632993, 1e-7);
  EXPECT_EQ(per_pixel.statistics().pixel_std.at<double>(1), 0.0);
  const cv::Mat out = apply(per_pixel, probe);
  ASSERT_EQ(out.type(), CV_32FC1);
  EXPECT_NEAR(out.at<float>(0), 1.2247449, 1e-5); // (0.4 - 0.2) / 0.1632993
  EXPECT_EQ(out.at<float>(1), 0.0f);              // (1 - 1) / 1e-3

  Standardize scalar = make();
  fit(scalar, images);
  EXPECT_NEAR(scalar.statistics().mean, 0.6, 1e-12);
  EXPECT_NEAR(scalar.statistics().std, 0.4163332, 1e-7);
  EXPECT_TRUE(scalar.statistics().pixel_mean.empty()) << "scalar mode keeps no per-pixel images";
  const cv::Mat scaled = apply(scalar, probe);
  EXPECT_NEAR(scaled.at<float>(0), -0.4803845, 1e-5); // (0.4 - 0.6) / 0.4163332
  EXPECT_NEAR(scaled.at<float>(1), 0.9607689, 1e-5);  // (1 - 0.6) / 0.4163332
}

TEST(Standardize, RgbPerPixelStatisticsAreKeptPerChannel) {
  // Two 1x1 RGB images (R, G, B) = (0, 255, 51) and (255, 255, 153): per channel the means are
  // 0.5, 1 and 0.4 and the population stds 0.5, 0 and 0.2.
  std::vector<cv::Mat> images{cv::Mat(1, 1, CV_8UC3, cv::Scalar(0, 255, 51)),
                              cv::Mat(1, 1, CV_8UC3, cv::Scalar(255, 255, 153))};
  Standardize stage = make({{"mode", std::string("per_pixel")}});
  fit(stage, images);
  const auto mean = stage.statistics().pixel_mean.at<cv::Vec3d>(0);
  const auto deviation = stage.statistics().pixel_std.at<cv::Vec3d>(0);
  EXPECT_NEAR(mean[0], 0.5, 1e-12);
  EXPECT_NEAR(mean[1], 1.0, 1e-12);
  EXPECT_NEAR(mean[2], 0.4, 1e-12);
  EXPECT_NEAR(deviation[0], 0.5, 1e-12);
  EXPECT_NEAR(deviation[1], 0.0, 1e-12);
  EXPECT_NEAR(deviation[2], 0.2, 1e-12);
}

TEST(Standardize, SavedStateRestoresTheSameOutputBitForBit) {
  // Statistics of awkward values (not short binary fractions), saved and read back.
  std::vector<cv::Mat> images;
  for (int k = 0; k < 5; ++k) {
    cv::Mat image(6, 7, CV_16UC3);
    cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(65535));
    images.push_back(image);
  }
  Standardize fitted = make({{"mode", std::string("per_pixel")}});
  fit(fitted, images);
  const radpipe::testing::TempFolder folder;
  const auto file = folder.path() / "preprocess-3.state";
  fitted.save_state(file);

  Standardize restored = make({{"mode", std::string("per_pixel")}});
  restored.load_state(file);
  Standardize named = make({{"mode", std::string("per_pixel")}, {"statistics", file.string()}});
  EXPECT_FALSE(named.needs_fit()) << "a stage given a statistics file is not fitted again";
  EXPECT_TRUE(restored.needs_fit());

  for (const Standardize* copy : {&restored, &named}) {
    EXPECT_EQ(copy->statistics().images, 5u);
    EXPECT_EQ(copy->statistics().mean, fitted.statistics().mean);
    EXPECT_EQ(copy->statistics().std, fitted.statistics().std);
    EXPECT_EQ(cv::norm(copy->statistics().pixel_mean, fitted.statistics().pixel_mean, cv::NORM_INF), 0.0);
    EXPECT_EQ(cv::norm(copy->statistics().pixel_std, fitted.statistics().pixel_std, cv::NORM_INF), 0.0);
    testing::expect_same(apply(*copy, images[2]), apply(fitted, images[2]));
  }
}

TEST(Standardize, AHandWrittenScalarFileIsEnough) {
  const radpipe::testing::TempFolder folder;
  const auto file = folder.write("stats.yml", "%YAML:1.0\nmean: 0.5\nstd: 0.25\n");
  const Standardize stage = make({{"statistics", file.string()}});
  const cv::Mat out = apply(stage, (cv::Mat_<unsigned char>(1, 2) << 255, 0));
  EXPECT_FLOAT_EQ(out.at<float>(0), 2.0f);  // (1 - 0.5) / 0.25
  EXPECT_FLOAT_EQ(out.at<float>(1), -2.0f); // (0 - 0.5) / 0.25

  try {
    make({{"mode", std::string("per_pixel")}, {"statistics", file.string()}});
    FAIL() << "a scalar file cannot serve per-pixel standardisation";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "statistics");
    EXPECT_NE(std::string(error.what()).find("no per-pixel statistics"), std::string::npos) << error.what();
  }
  const auto broken = folder.write("broken.yml", "%YAML:1.0\naverage: 0.5\n");
  EXPECT_THROW(make({{"statistics", broken.string()}}), StageError);
}

TEST(Standardize, PerPixelRefusesASecondImageSize) {
  Standardize stage = make({{"mode", std::string("per_pixel")}});
  stage.fit_begin();
  stage.fit_add(sample_of(cv::Mat(4, 4, CV_8UC1, cv::Scalar(10))));
  try {
    stage.fit_add(sample_of(cv::Mat(4, 5, CV_8UC1, cv::Scalar(10)), "odd"));
    FAIL() << "a second size must be refused";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "mode");
    EXPECT_NE(std::string(error.what()).find("sample odd is 5x4"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("place resize"), std::string::npos) << error.what();
  }
  stage.fit_end();
  EXPECT_THROW(apply(stage, cv::Mat(5, 4, CV_8UC1, cv::Scalar(10))), StageError);

  // Scalar statistics do not care about sizes.
  Standardize scalar = make();
  fit(scalar, {cv::Mat(4, 4, CV_8UC1, cv::Scalar(0)), cv::Mat(2, 8, CV_8UC1, cv::Scalar(255))});
  EXPECT_NEAR(scalar.statistics().mean, 0.5, 1e-12); // 16 zeros and 16 ones
  EXPECT_NEAR(scalar.statistics().std, 0.5, 1e-12);
}

TEST(Standardize, AnUnfittedStageSaysHowToFitIt) {
  const Standardize stage = make();
  try {
    apply(stage, cv::Mat(2, 2, CV_8UC1, cv::Scalar(1)));
    FAIL() << "an unfitted stage must refuse to run";
  } catch (const StageError& error) {
    EXPECT_NE(std::string(error.what()).find("--checkpoint"), std::string::npos) << error.what();
  }
  Standardize empty = make();
  empty.fit_begin();
  EXPECT_THROW(empty.fit_end(), StageError);
}

} // namespace
} // namespace radpipe::transforms
