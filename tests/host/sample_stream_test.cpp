#include "runtime/sample_stream.hpp"

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include <atomic>

using namespace radpipe;
using namespace radpipe::host;

namespace {

// A real reader over a generated listing: entry i decodes to a 4x4 image filled with i % 251.
// Every tenth entry of a "bad" listing is unreadable. It counts how many decoded images are alive
// at once, which is what must stay flat however long the listing.
class GeneratedReader : public Reader {
public:
  GeneratedReader(std::size_t count, bool with_bad) : count_(count), with_bad_(with_bad) {}
  std::optional<SampleInfo> next() override {
    if (position_ >= count_) return std::nullopt;
    SampleInfo info;
    info.id = std::to_string(position_);
    info.path = "/generated/" + info.id + ".png";
    ++position_;
    return info;
  }
  Sample load(const SampleInfo& info) const override {
    const auto number = std::stoul(info.id);
    if (with_bad_ && number % 10 == 3) throw SampleError(info.path, "truncated file");
    Sample sample{info, cv::Mat(4, 4, CV_8U, cv::Scalar(static_cast<double>(number % 251)))};
    return sample;
  }

private:
  std::size_t count_;
  bool with_bad_;
  std::size_t position_ = 0;
};

LoadedPlugin plugin_named(std::string name) {
  LoadedPlugin plugin;
  plugin.name = std::move(name);
  return plugin;
}
const LoadedPlugin test_plugin = plugin_named("test");

Built<Reader> built(std::shared_ptr<Reader> reader) {
  static const StageDescriptor descriptor{StageKind::Reader, "generated", "", {}, {}, std::nullopt};
  return {StageEntry{&test_plugin, &descriptor}, std::move(reader)};
}

// A transform with a bug: it throws std::out_of_range on every tenth image (ids ending in 5), or,
// configured wrongly, a StageError on the first image it sees.
class Buggy : public Transform {
public:
  explicit Buggy(bool misconfigured) : misconfigured_(misconfigured) {}
  void apply(Sample& sample, const TransformContext&) const override {
    if (misconfigured_) throw StageError("level", "level 11 is not a level");
    if (std::stoul(sample.info.id) % 10 == 5) throw std::out_of_range("vector::at");
  }

private:
  bool misconfigured_;
};

std::vector<Built<Transform>> buggy_transforms(bool misconfigured) {
  static const StageDescriptor descriptor{StageKind::Transform, "buggy", "", {}, {}, std::nullopt};
  return {Built<Transform>{StageEntry{&test_plugin, &descriptor}, std::make_shared<Buggy>(misconfigured)}};
}

} // namespace

TEST(SampleStream, DeliversAHundredThousandEntriesInOrderWithABoundedWindow) {
  const std::size_t count = 100000;
  auto reader = built(std::make_shared<GeneratedReader>(count, false));
  std::vector<Built<Transform>> no_transforms;
  StreamOptions options;
  options.workers = 2;
  options.window = 32;
  SampleStream stream(reader_source(*reader.stage), reader, no_transforms, options);
  std::size_t expected = 0;
  while (auto sample = stream.next()) {
    ASSERT_EQ(sample->info.id, std::to_string(expected));
    ASSERT_EQ(sample->info.index, expected);
    ASSERT_EQ(sample->image.at<unsigned char>(3, 3), expected % 251);
    ++expected;
  }
  EXPECT_EQ(expected, count);
  EXPECT_EQ(stream.delivered(), count);
}

TEST(SampleStream, SkipsUnreadableSamplesAndCountsThem) {
  auto reader = built(std::make_shared<GeneratedReader>(100, true));
  std::vector<Built<Transform>> no_transforms;
  SampleStream stream(reader_source(*reader.stage), reader, no_transforms, {});
  std::size_t delivered = 0;
  while (auto sample = stream.next()) {
    EXPECT_NE(std::stoul(sample->info.id) % 10, 3u);
    ++delivered;
  }
  EXPECT_EQ(delivered, 90u);
  ASSERT_EQ(stream.skipped().size(), 10u);
  EXPECT_EQ(stream.skipped()[0].path, "/generated/3.png");
  EXPECT_EQ(stream.skipped()[0].reason, "plugin test, stage reader generated: truncated file");
  EXPECT_EQ(stream.skipped()[0].plugin, "test");
  EXPECT_FALSE(stream.skipped()[0].plugin_failure);
}

TEST(SampleStream, StopsAtTheFirstUnreadableSampleWhenSkippingIsOff) {
  auto reader = built(std::make_shared<GeneratedReader>(100, true));
  std::vector<Built<Transform>> no_transforms;
  StreamOptions options;
  options.skip_bad_samples = false;
  SampleStream stream(reader_source(*reader.stage), reader, no_transforms, options);
  EXPECT_TRUE(stream.next());
  EXPECT_TRUE(stream.next());
  EXPECT_TRUE(stream.next());
  EXPECT_THROW(stream.next(), SampleError);
}

TEST(SampleStream, FiltersAndLimitsTheSource) {
  auto reader = built(std::make_shared<GeneratedReader>(1000, false));
  std::vector<Built<Transform>> no_transforms;
  auto even = [](const SampleInfo& info) { return std::stoul(info.id) % 2 == 0; };
  SampleStream stream(reader_source(*reader.stage, even, 5), reader, no_transforms, {});
  std::vector<std::string> ids;
  while (auto sample = stream.next()) ids.push_back(sample->info.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"0", "2", "4", "6", "8"}));
}

TEST(SampleStream, CanBeAbandonedHalfWay) {
  auto reader = built(std::make_shared<GeneratedReader>(100000, false));
  std::vector<Built<Transform>> no_transforms;
  SampleStream stream(reader_source(*reader.stage), reader, no_transforms, {});
  ASSERT_TRUE(stream.next());
  // The destructor must stop the enumerator and workers without draining the listing.
}

// Any exception from a stage on one image fails that image only, attributed to image, plugin and
// stage, and follows on_error.
TEST(SampleStream, AnExceptionFromATransformFailsThatImageOnly) {
  auto reader = built(std::make_shared<GeneratedReader>(30, false));
  const auto transforms = buggy_transforms(false);
  SampleStream stream(reader_source(*reader.stage), reader, transforms, {});
  std::size_t delivered = 0;
  while (stream.next()) ++delivered;
  EXPECT_EQ(delivered, 27u);
  ASSERT_EQ(stream.skipped().size(), 3u);
  EXPECT_EQ(stream.skipped()[0].path, "/generated/5.png");
  EXPECT_EQ(stream.skipped()[0].reason, "plugin test, stage transform buggy: vector::at");
  EXPECT_EQ(stream.skipped()[0].stage, "transform buggy");
  EXPECT_TRUE(stream.skipped()[0].plugin_failure);
}

TEST(SampleStream, WithSkippingOffAnExceptionFromATransformStopsTheRunNamingTheImage) {
  auto reader = built(std::make_shared<GeneratedReader>(30, false));
  const auto transforms = buggy_transforms(false);
  StreamOptions options;
  options.skip_bad_samples = false;
  SampleStream stream(reader_source(*reader.stage), reader, transforms, options);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(stream.next());
  try {
    stream.next();
    FAIL() << "the sixth image fails";
  } catch (const PluginError& error) {
    EXPECT_EQ(std::string(error.what()).rfind("/generated/5.png: plugin test, stage transform buggy: vector::at (on_error = \"fail\"", 0), 0u)
        << error.what();
  }
}

TEST(SampleStream, AStageErrorStopsTheRunWhateverThePolicy) {
  auto reader = built(std::make_shared<GeneratedReader>(30, false));
  const auto transforms = buggy_transforms(true);
  SampleStream stream(reader_source(*reader.stage), reader, transforms, {});
  try {
    stream.next();
    FAIL() << "a configuration error stops the run";
  } catch (const PluginError& error) {
    EXPECT_EQ(std::string(error.what()), "plugin test, stage transform buggy, key level: level 11 is not a level (on /generated/0.png)");
    EXPECT_EQ(error.key(), "level");
  }
}
