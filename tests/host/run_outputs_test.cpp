// A predict run's outputs at scale (issue 12): what RunOutputs holds while results stream through
// the writers, for a reader that lists studies together and for one that does not.
#include <gtest/gtest.h>

#include <radpipe/testing.hpp>

#include <fstream>
#include <string>

#include "runtime/pipeline.hpp"
#include "runtime/run_outputs.hpp"
#include "real_plugins.hpp"

using namespace radpipe;
using namespace radpipe::host;

namespace {

using radpipe::host::test_support::real_plugins;

std::size_t lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

// The resident set of this process in KiB (Linux), for a bound on what a run holds.
std::size_t resident_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}

// A pipeline whose reader is `reader` (a TOML table body), with a tiny model that never runs: the
// test hands RunOutputs the predictions a model would have made.
class OutputsPipeline {
public:
  explicit OutputsPipeline(const std::string& reader) {
    const std::string text = "[pipeline]\nname = \"outputs\"\n[reader]\n" + reader +
                             "[model]\nstage = \"cnn\"\nblocks = 2\nwidth = 4\ninput_channels = 1\n[aggregate]\nstage = \"mean\"\nthreshold = 0.5\n";
    auto result = parse_pipeline(text, scratch_.path() / "pipeline.toml", real_plugins());
    if (!result.config) throw std::runtime_error("invalid test pipeline");
    config_ = std::make_unique<PipelineConfig>(std::move(*result.config));
    BuildOptions options;
    options.device_override = "cpu";
    pipeline_ = std::make_unique<Pipeline>(*config_, real_plugins(), options);
  }
  Pipeline& pipeline() { return *pipeline_; }
  std::filesystem::path out() const { return scratch_.path() / "out"; }

private:
  radpipe::testing::TempFolder scratch_;
  std::unique_ptr<PipelineConfig> config_;
  std::unique_ptr<Pipeline> pipeline_;
};

ImagePrediction prediction(std::size_t index, const std::string& study) {
  ImagePrediction image;
  image.info.id = "image-" + std::to_string(index);
  image.info.path = "/archive/" + image.info.id + ".png";
  image.info.study_id = study;
  image.info.label = static_cast<int>(index % 2);
  image.chain = "default";
  image.probability = static_cast<double>(index % 1000) / 1000.0;
  return image;
}

// The [reader] table of FracAtlas's sample labels read by `csv`, with `extra` lines.
std::string csv_reader(const std::string& extra = "") {
  const auto labels = std::filesystem::path(RADPIPE_SOURCE_DIR) / "samples" / "fracatlas" / "labels.csv";
  return "stage = \"csv\"\nfile = \"" + labels.string() + "\"\nimage_column = \"image\"\nlabel_column = \"fractured\"\n" + extra;
}

struct Streamed {
  std::size_t most_open = 0; // the most studies open after any image
  std::size_t grown_kib = 0; // resident set grown from image 10,000 to the last
};

// Hands `count` predictions to `outputs`, image i in study `study_of(i)`, as a run would.
template <typename StudyOf> Streamed stream(RunOutputs& outputs, std::size_t count, StudyOf study_of) {
  Streamed streamed;
  std::size_t resident_at_10000 = 0;
  for (std::size_t index = 0; index < count; ++index) {
    outputs.add(prediction(index, study_of(index)));
    streamed.most_open = std::max(streamed.most_open, outputs.open_studies());
    if (index == 10'000) resident_at_10000 = resident_kib();
  }
  const std::size_t resident_at_end = resident_kib();
  streamed.grown_kib = resident_at_end - std::min(resident_at_end, resident_at_10000);
  return streamed;
}

// A reader that lists studies together (study_folder, as MURA and DICOM study folders): each study
// is written when the next one starts, so a run of 100,000 images holds one study at a time, and
// its memory does not grow with the run.
TEST(RunOutputs, AHundredThousandImagesStreamHoldingOneStudyAtATime) {
  const auto images = std::filesystem::path(RADPIPE_SOURCE_DIR) / "samples" / "fracatlas" / "images";
  OutputsPipeline setup("stage = \"study_folder\"\nfolder = \"" + images.string() + "\"\n");
  OutputOptions options;
  options.out_dir = setup.out();
  RunOutputs outputs(setup.pipeline(), real_plugins(), options);

  constexpr std::size_t count = 100'000;
  const Streamed streamed = stream(outputs, count, [](std::size_t index) { return "study-" + std::to_string(index / 4); });
  outputs.finish(InferenceSummary{}, "complete");

  EXPECT_EQ(streamed.most_open, 1u);
  EXPECT_EQ(outputs.images(), count);
  EXPECT_EQ(outputs.studies(), count / 4);
  EXPECT_EQ(lines_of(setup.out() / "predictions.csv"), count + 1);
  EXPECT_EQ(lines_of(setup.out() / "studies.csv"), count / 4 + 1);
  // 90,000 more images may add what stays per study by design (8 bytes for each study written, so
  // that a study coming back is refused), and allocator noise: far below what holding the
  // predictions would take (about 40 MB of ImagePrediction objects).
  EXPECT_LT(streamed.grown_kib, 8u * 1024u) << "KiB grown between image 10,000 and 100,000";
}

// A reader that does not (csv): studies may come back, so every open study stays until the end of
// the run (docs/batch.md, "When results are written"), then each is written once.
TEST(RunOutputs, StudiesOfAnInterleavedListingAreHeldUntilTheEnd) {
  OutputsPipeline setup(csv_reader());
  OutputOptions options;
  options.out_dir = setup.out();
  options.commit_interval = std::chrono::seconds(0);
  RunOutputs outputs(setup.pipeline(), real_plugins(), options);

  // 1,024 images: a commit every 16 (a batch, with no interval) flushes the last of them too.
  for (std::size_t index = 0; index < 1'024; ++index) outputs.add(prediction(index, "study-" + std::to_string(index % 10)));
  EXPECT_EQ(outputs.open_studies(), 10u);
  EXPECT_EQ(outputs.studies(), 0u);
  EXPECT_EQ(lines_of(setup.out() / "predictions.csv"), 1'025u) << "images are written as they come";
  outputs.finish(InferenceSummary{}, "complete");
  EXPECT_EQ(outputs.open_studies(), 0u);
  EXPECT_EQ(lines_of(setup.out() / "studies.csv"), 11u);
}

// An image without a study id is a study of one, whatever the reader: a CSV listing of 100,000
// single-image studies (FracAtlas's layout, without study_column) holds nothing per image. Holding
// them until the end, as before, grew the run by about 340 bytes an image (30 MB here).
TEST(RunOutputs, ImagesWithoutAStudyIdAreWrittenAtOnceAsStudiesOfOne) {
  OutputsPipeline setup(csv_reader());
  OutputOptions options;
  options.out_dir = setup.out();
  RunOutputs outputs(setup.pipeline(), real_plugins(), options);

  constexpr std::size_t count = 100'000;
  const Streamed streamed = stream(outputs, count, [](std::size_t) { return std::string(); });
  EXPECT_EQ(streamed.most_open, 0u);
  EXPECT_EQ(outputs.studies(), count) << "each written as its image was";
  outputs.finish(InferenceSummary{}, "complete");
  EXPECT_EQ(lines_of(setup.out() / "studies.csv"), count + 1);
  EXPECT_LT(streamed.grown_kib, 8u * 1024u) << "KiB grown between image 10,000 and 100,000";
}

// csv with sorted_by_study = true promises what study_folder's listing guarantees: one study held
// at a time, and a study that comes back after the next one started stops the run, since its row
// is already written.
TEST(RunOutputs, ACsvSortedByStudyHoldsOneStudyAndRefusesOneThatComesBack) {
  OutputsPipeline setup(csv_reader("sorted_by_study = true\n"));
  OutputOptions options;
  options.out_dir = setup.out();
  RunOutputs outputs(setup.pipeline(), real_plugins(), options);

  const Streamed streamed = stream(outputs, 1'000, [](std::size_t index) { return "study-" + std::to_string(index / 5); });
  EXPECT_EQ(streamed.most_open, 1u);
  EXPECT_EQ(outputs.studies(), 199u) << "all but the last study, written as the next began";
  try {
    outputs.add(prediction(1'000, "study-3"));
    FAIL() << "study-3 came back after study-199 began";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("study study-3 comes back"), std::string::npos) << error.what();
  }
}

// What a commit costs (three fsyncs and a run.json) is paid once a batch and a commit interval have
// passed: the first batch commits at once, so run.json shows a run has started, then nothing until
// the interval is up, while a zero interval commits every batch.
TEST(RunOutputs, CommitsWaitForTheIntervalAfterTheFirstBatch) {
  const std::string reader = csv_reader();
  const auto committed_images = [](const std::filesystem::path& out) {
    return nlohmann::json::parse(radpipe::testing::read_text(out / "run.json")).value("images", std::size_t{0});
  };
  for (const auto interval : {std::chrono::seconds(0), std::chrono::seconds(3600)}) {
    OutputsPipeline setup(reader);
    OutputOptions options;
    options.out_dir = setup.out();
    options.commit_interval = interval;
    RunOutputs outputs(setup.pipeline(), real_plugins(), options);
    for (std::size_t index = 0; index < 1'000; ++index) outputs.add(prediction(index, ""));
    EXPECT_EQ(committed_images(setup.out()), interval.count() == 0 ? 992u : 16u) << interval.count() << " s";
    outputs.finish(InferenceSummary{}, "complete");
    EXPECT_EQ(committed_images(setup.out()), 1'000u);
  }
}

} // namespace
