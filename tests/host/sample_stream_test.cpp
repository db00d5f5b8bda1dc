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

Built<Reader> built(std::shared_ptr<Reader> reader) {
  static const StageDescriptor descriptor{StageKind::Reader, "generated", "", {}, {}, std::nullopt};
  static const LoadedPlugin plugin{"", "test", "", "", "", {}, nullptr};
  return {StageEntry{&plugin, &descriptor}, std::move(reader)};
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
  EXPECT_EQ(stream.skipped()[0].reason, "truncated file");
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
