// The four stages as a training chain would run them: from several threads at once, sharing the
// stage objects, every sample must come out exactly as it does when run alone.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "affine.hpp"
#include "crop.hpp"
#include "flip.hpp"
#include "intensity.hpp"
#include "test_support.hpp"

namespace radpipe::augment {
namespace {

using testing::fracatlas_image;
using testing::identical;
using testing::params;
using testing::training;

struct Chain {
  RandomFlip flip{params(RandomFlip::schema()), StageContext{}};
  RandomAffine affine{params(RandomAffine::schema(), {{"zoom", std::vector<double>{0.9, 1.1}}}), StageContext{}};
  RandomIntensity intensity{params(RandomIntensity::schema(), {{"brightness", 0.1}, {"noise_std", 0.02}}),
                            StageContext{}};
  RandomCrop crop{params(RandomCrop::schema(), {{"size", std::vector<std::int64_t>{320, 320}}}), StageContext{}};

  cv::Mat run(const cv::Mat& image, std::uint64_t index, const TransformContext& context) const {
    Sample sample;
    sample.info.index = index;
    sample.image = image;
    for (const Transform* stage : std::initializer_list<const Transform*>{&flip, &affine, &intensity, &crop})
      stage->apply(sample, context);
    return sample.image;
  }
};

TEST(AugmentChain, ConcurrentCallsMatchSerialOnes) {
  const cv::Mat image = fracatlas_image();
  const Chain chain;
  constexpr std::uint64_t samples = 32;
  std::vector<cv::Mat> serial;
  for (std::uint64_t index = 0; index < samples; ++index) serial.push_back(chain.run(image, index, training(11, 3)));

  std::vector<cv::Mat> parallel(samples);
  {
    std::vector<std::jthread> workers;
    for (std::uint64_t worker = 0; worker < 4; ++worker)
      workers.emplace_back([&, worker] {
        for (std::uint64_t index = worker; index < samples; index += 4)
          parallel[index] = chain.run(image, index, training(11, 3));
      });
  }
  for (std::uint64_t index = 0; index < samples; ++index) {
    EXPECT_TRUE(identical(parallel[index], serial[index])) << "index " << index;
    EXPECT_EQ(serial[index].size(), cv::Size(320, 320));
  }
  EXPECT_FALSE(identical(serial[0], serial[1]));
}

} // namespace
} // namespace radpipe::augment
