// The real `csv` reader plugin streamed through SampleStream over a 100,000-row listing: memory
// stays flat because only the bounded window of samples is ever decoded and alive.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <radpipe/testing.hpp>

#include "runtime/sample_stream.hpp"

using namespace radpipe;
using namespace radpipe::host;

namespace {

// Resident memory of this process, from /proc/self/statm (second field, in pages).
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

TEST(ReaderStream, AHundredThousandCsvRowsStreamInFlatMemory) {
  radpipe::testing::TempFolder scratch;
  // Three 96x96 gray images of noise; each decodes to 9,216 bytes, so the 100,000 samples held at
  // once would take 920 MB, while a window of 64 takes under 1 MB.
  const int side = 96;
  for (int i = 0; i < 3; ++i) {
    cv::Mat noise(side, side, CV_8UC1);
    cv::randu(noise, 0, 256);
    noise.at<unsigned char>(0, 0) = static_cast<unsigned char>(i);
    ASSERT_TRUE(cv::imwrite((scratch.path() / ("image" + std::to_string(i) + ".png")).string(), noise));
  }
  const std::size_t rows = 100000;
  {
    std::ofstream csv(scratch.path() / "listing.csv");
    csv << "id,image,label\n";
    for (std::size_t row = 0; row < rows; ++row)
      csv << "row" << row << ",image" << row % 3 << ".png," << row % 2 << '\n';
  }

  PluginHost plugins;
  plugins.load_folders({RADPIPE_PLUGIN_DIR});
  const auto entry = plugins.find(StageKind::Reader, "csv");
  ASSERT_TRUE(entry);
  Params params = resolve_params(entry->stage->schema, {{"file", (scratch.path() / "listing.csv").string()},
                                                        {"id_column", std::string("id")}});
  Built<Reader> reader{*entry, plugins.create<Reader>(*entry, params, StageContext{})};
  std::vector<Built<Transform>> no_transforms;
  StreamOptions options;
  options.workers = 2;
  options.window = 64;
  SampleStream stream(reader_source(*reader.stage), reader, no_transforms, options);

  std::size_t delivered = 0, baseline = 0, peak = 0;
  while (auto sample = stream.next()) {
    ASSERT_EQ(sample->info.id, "row" + std::to_string(delivered));
    ASSERT_EQ(sample->image.at<unsigned char>(0, 0), delivered % 3);
    ++delivered;
    if (delivered == 1000) baseline = resident_bytes();
    if (delivered > 1000 && delivered % 1000 == 0) peak = std::max(peak, resident_bytes());
  }
  EXPECT_EQ(delivered, rows);
  EXPECT_TRUE(stream.skipped().empty());
  // Generous: 64 MB is 7% of what holding every decoded sample would take, and 60 times the window.
  EXPECT_LT(peak - std::min(peak, baseline), std::size_t{64} << 20)
      << "resident memory grew from " << baseline << " to " << peak << " bytes";
}

} // namespace
