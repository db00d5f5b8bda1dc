#include "dicom_reader.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <future>
#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <radpipe/image.hpp>
#include <radpipe/testing.hpp>
#include <set>

#include "dicom_files.hpp"

namespace radpipe::dicom {
namespace {

namespace fs = std::filesystem;
using radpipe::testing::TempFolder;
using testing::DicomSpec;
using testing::Encoding;
using testing::ramp;
using testing::shared_dicom;
using testing::write_dicom;
using namespace std::string_literals;

// The reader as the host builds it, with the decoder this build made (the one beside the plugin).
DicomReader make_reader(std::map<std::string, ParamValue> values) {
  return DicomReader(resolve_params(DicomReader::schema(), std::move(values)), StageContext{},
                     RADPIPE_DICOM_DECODER);
}

Sample load_only(const fs::path& file, std::map<std::string, ParamValue> extra = {}) {
  extra["path"] = file.string();
  DicomReader reader = make_reader(std::move(extra));
  auto info = reader.next();
  if (!info) throw std::runtime_error("the reader listed nothing for " + file.string());
  return reader.load(*info);
}

std::vector<std::uint16_t> pixels_of(const cv::Mat& image) {
  EXPECT_EQ(image.type(), CV_16UC1);
  return std::vector<std::uint16_t>(image.begin<std::uint16_t>(), image.end<std::uint16_t>());
}

// A shade in [0, 1] as the reader stores it: 0..65535, rounded to nearest.
std::uint16_t shade(double fraction) {
  return static_cast<std::uint16_t>(std::lround(std::clamp(fraction, 0.0, 1.0) * 65535.0));
}

// --- The three real radiographs of the shared folder -------------------------------------------

TEST(SharedDicoms, Rg3LosslessJpeg2000DecodesWithItsWindowAndBoneBright) {
  const Sample sample = load_only(shared_dicom("RG3_J2KR.dcm"));
  require_radpipe_image(sample, "test");
  EXPECT_EQ(sample.image.size(), cv::Size(1760, 1760)); // Columns x Rows of the file
  EXPECT_EQ(sample.image.type(), CV_16UC1);
  EXPECT_EQ(sample.info.patient_id, "11RG3");
  EXPECT_EQ(sample.info.study_id, "1.3.6.1.4.1.5962.1.2.11.20040826185059.5457");
  EXPECT_EQ(sample.info.body_part, "extremity");
  EXPECT_EQ(sample.info.view, "AP");
  EXPECT_FALSE(sample.info.pixel_spacing_mm.has_value());
  const auto& tags = sample.info.tags;
  EXPECT_EQ(tags.at("Modality"), "CR");
  EXPECT_EQ(tags.at("PhotometricInterpretation"), "MONOCHROME1");
  EXPECT_EQ(tags.at("BitsStored"), "10");
  EXPECT_EQ(tags.at("TransferSyntaxUID"), "1.2.840.10008.1.2.4.90");
  EXPECT_EQ(tags.at("WindowCenter"), "550");
  EXPECT_EQ(tags.at("WindowWidth"), "1024");
  EXPECT_EQ(tags.at("window_source"), "window_tags");
  EXPECT_EQ(tags.at("stored_min"), "0");
  EXPECT_EQ(tags.at("stored_max"), "1023"); // 10 bits stored: 0..1023

  // LINEAR window c = 550, w = 1024 (PS3.3 C.11.2.1.2.1): x <= 549.5 - 511.5 = 38 is black,
  // x > 549.5 + 511.5 = 1061 white, between ((x - 549.5) / 1023 + 0.5). MONOCHROME1 inverts, so
  // the stored minimum 0 (black in the window) becomes white, 65535, and the stored maximum 1023,
  // at (1023 - 549.5) / 1023 + 0.5 of the window, becomes 1 minus that.
  double lowest = 0, highest = 0;
  cv::minMaxLoc(sample.image, &lowest, &highest);
  EXPECT_EQ(highest, 65535.0);
  EXPECT_EQ(lowest, shade(1.0 - ((1023.0 - 549.5) / 1023.0 + 0.5)));

  // Bone bright: across the lower leg at rows 350..450 (located by eye on the decoded image), the
  // tibia's shaft (columns 820..880) is brighter than the soft tissue beside it (660..720), which
  // is brighter than the air between leg and collimator edge (500..580). Without the MONOCHROME1
  // inversion this order reverses.
  const auto mean_at = [&](int first_column, int last_column) {
    return cv::mean(sample.image(cv::Range(350, 450), cv::Range(first_column, last_column)))[0];
  };
  const double bone = mean_at(820, 880), soft_tissue = mean_at(660, 720), air = mean_at(500, 580);
  EXPECT_GT(bone, soft_tissue);
  EXPECT_GT(soft_tissue, air);
  EXPECT_GT(bone, 0.6 * 65535) << "bone should be near white";
  EXPECT_LT(air, 0.2 * 65535) << "air should be near black";
}

TEST(SharedDicoms, Rg3LossyJpeg2000IsCloseToTheLosslessOne) {
  const cv::Mat lossless = load_only(shared_dicom("RG3_J2KR.dcm")).image;
  const cv::Mat lossy = load_only(shared_dicom("RG3_J2KI.dcm")).image;
  ASSERT_EQ(lossy.size(), lossless.size());
  cv::Mat difference;
  cv::absdiff(lossless, lossy, difference);
  // The same image compressed lossily: on average within 2 % of the full scale.
  EXPECT_LT(cv::mean(difference)[0], 0.02 * 65535.0);
  EXPECT_GT(cv::norm(lossless, lossy, cv::NORM_INF), 0.0) << "lossy compression changed nothing?";
}

TEST(SharedDicoms, Rg1ChestHasFifteenBitsAndItsOwnStudy) {
  const Sample sample = load_only(shared_dicom("RG1_J2KI.dcm"));
  EXPECT_EQ(sample.image.size(), cv::Size(1841, 1955)); // 1955 rows x 1841 columns
  EXPECT_EQ(sample.info.body_part, "chest");
  EXPECT_EQ(sample.info.view, "PA");
  EXPECT_EQ(sample.info.patient_id, "9RG1");
  EXPECT_EQ(sample.info.study_id, "1.3.6.1.4.1.5962.1.2.9.20040826185059.5457");
  // The file's PixelSpacing is "0.000\0.000": unknown, so no spacing rather than zero.
  EXPECT_FALSE(sample.info.pixel_spacing_mm.has_value());
  EXPECT_EQ(sample.info.tags.at("BitsStored"), "15");
  EXPECT_EQ(sample.info.tags.at("WindowCenter"), "15000");
  EXPECT_EQ(sample.info.tags.at("WindowWidth"), "30000");
  // Stored values within 0..2^15-1, and the window 14999.5 -+ 14999.5 covers them.
  EXPECT_LE(std::stoi(sample.info.tags.at("stored_max")), 32767);
  EXPECT_GE(std::stoi(sample.info.tags.at("stored_min")), 0);
}

// --- Files the tests write ----------------------------------------------------------------------

class WrittenDicom : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const DicomSpec& spec) {
    const fs::path file = scratch_.path() / name;
    write_dicom(file, spec);
    return file;
  }
  TempFolder scratch_;
};

TEST_F(WrittenDicom, Uncompressed16BitWithoutWindowTagsSpansItsFullRange) {
  DicomSpec spec;
  spec.values = {0, 1000, 3000, 4000};
  const Sample sample = load_only(write("plain.dcm", spec));
  EXPECT_EQ(sample.image.size(), cv::Size(2, 2));
  // No window tags: the image's own range 0..4000 maps linearly onto 0..65535.
  EXPECT_EQ(pixels_of(sample.image),
            (std::vector<std::uint16_t>{0, shade(1000 / 4000.0), shade(3000 / 4000.0), 65535}));
  EXPECT_EQ(sample.info.tags.at("window_source"), "full (no window tags)");
  EXPECT_EQ(sample.info.tags.at("PhotometricInterpretation"), "MONOCHROME2");
}

TEST_F(WrittenDicom, Monochrome1IsInverted) {
  DicomSpec spec;
  spec.values = {0, 1000, 3000, 4000};
  spec.photometric = testing::Photometric::Monochrome1;
  const Sample sample = load_only(write("mono1.dcm", spec));
  // The same shades as MONOCHROME2, upside down: the lowest stored value is the brightest.
  EXPECT_EQ(pixels_of(sample.image),
            (std::vector<std::uint16_t>{65535, shade(1 - 1000 / 4000.0), shade(1 - 3000 / 4000.0), 0}));
}

TEST_F(WrittenDicom, RescaleIsAppliedBeforeTheWindow) {
  DicomSpec spec;
  spec.values = {0, 1024, 1536, 2048};
  spec.rescale_slope = 2.0;
  spec.rescale_intercept = -1024.0;
  spec.window = std::pair{1024.0, 2049.0}; // in modality units
  const Sample sample = load_only(write("rescaled.dcm", spec));
  // Modality values 2 x - 1024: -1024, 1024, 2048, 3072. LINEAR window c = 1024, w = 2049:
  // ((m - 1023.5) / 2048 + 0.5), clamped to [0, 1].
  const auto window = [](double m) { return shade((m - 1023.5) / 2048.0 + 0.5); };
  EXPECT_EQ(pixels_of(sample.image),
            (std::vector<std::uint16_t>{window(-1024), window(1024), window(2048), window(3072)}));
  EXPECT_EQ(sample.info.tags.at("RescaleSlope"), "2");
  EXPECT_EQ(sample.info.tags.at("RescaleIntercept"), "-1024");
}

TEST_F(WrittenDicom, WindowTagsClipOutsideAndFollowTheLinearFunctionInside) {
  DicomSpec spec;
  spec.rows = 1;
  spec.columns = 5;
  spec.bits_stored = 12;
  spec.values = {0, 1000, 1500, 2000, 4095};
  spec.window = std::pair{1500.0, 1001.0};
  const Sample sample = load_only(write("window.dcm", spec));
  // c = 1500, w = 1001: x <= 1499.5 - 500 = 999.5 is 0, x > 1999.5 is 1, else (x - 1499.5)/1000 + 0.5;
  // so 1000 lies just inside, at 0.0005, and 2000 just past the top.
  EXPECT_EQ(pixels_of(sample.image),
            (std::vector<std::uint16_t>{0, shade(0.5 / 1000), shade(0.5 / 1000 + 0.5), 65535, 65535}));
  EXPECT_EQ(sample.info.tags.at("window_low"), "999.5");
  EXPECT_EQ(sample.info.tags.at("window_high"), "1999.5");
}

TEST_F(WrittenDicom, VoiLutTakesPrecedenceOverWindowTags) {
  DicomSpec spec;
  spec.rows = 1;
  spec.columns = 5;
  spec.bits_stored = 12;
  spec.values = {0, 1, 2, 3, 5};
  spec.window = std::pair{1000.0, 10.0};                        // would make every value black
  spec.voi_lut = testing::VoiLutSpec{0, 8, {0, 200, 100, 255}}; // not monotonic, so only the LUT explains it
  const Sample sample = load_only(write("voi_lut.dcm", spec));
  // 8-bit LUT entries over 255; the value 5, past the last entry, takes the last entry.
  EXPECT_EQ(pixels_of(sample.image),
            (std::vector<std::uint16_t>{0, shade(200 / 255.0), shade(100 / 255.0), 65535, 65535}));
  EXPECT_EQ(sample.info.tags.at("window_source"), "voi_lut");
}

TEST_F(WrittenDicom, FullAndPercentileModesIgnoreTheWindowTags) {
  DicomSpec spec;
  spec.rows = 10;
  spec.columns = 10;
  spec.values = ramp(10, 10, 1); // 0..99
  spec.window = std::pair{10.0, 5.0};
  const fs::path file = write("ramp.dcm", spec);

  const auto full = pixels_of(load_only(file, {{"window", "full"s}}).image);
  for (std::int32_t v = 0; v < 100; ++v) EXPECT_EQ(full[v], shade(v / 99.0)) << v;

  // Percentiles 25 and 75 of 100 values 0..99: the 25th and the 75th smallest, 24 and 74.
  const auto clipped = pixels_of(
      load_only(file, {{"window", "percentile"s}, {"percentiles", std::vector<double>{25, 75}}}).image);
  for (std::int32_t v = 0; v < 100; ++v) EXPECT_EQ(clipped[v], shade((v - 24) / 50.0)) << v;
}

struct CompressionCase {
  const char* name;
  Encoding encoding;
  int bits;
  const char* transfer_syntax;
};

class Compressed : public WrittenDicom, public ::testing::WithParamInterface<CompressionCase> {};

TEST_P(Compressed, DecodesToTheValuesWritten) {
  const auto& test = GetParam();
  DicomSpec spec;
  spec.rows = 32;
  spec.columns = 32;
  spec.bits_allocated = spec.bits_stored = test.bits;
  // A smooth ramp over the whole range, which lossy JPEG keeps close to.
  const std::int32_t top = (1 << test.bits) - 1;
  spec.values = ramp(32, 32, 1);
  for (auto& value : spec.values) value = value * top / 1023;
  spec.encoding = test.encoding;
  const Sample sample = load_only(write(std::string(test.name) + ".dcm", spec), {{"window", "full"s}});
  EXPECT_EQ(sample.info.tags.at("TransferSyntaxUID"), test.transfer_syntax);
  const auto pixels = pixels_of(sample.image);
  // Full window: the ramp's 0..top maps onto 0..65535; lossless codecs give exactly that.
  const double tolerance = test.encoding == Encoding::JpegBaseline ? 0.03 * 65535 : 0.0;
  for (std::size_t i = 0; i < pixels.size(); ++i)
    ASSERT_NEAR(pixels[i], shade(static_cast<double>(spec.values[i]) / top), tolerance) << "pixel " << i;
}

INSTANTIATE_TEST_SUITE_P(
    TransferSyntaxes, Compressed,
    ::testing::Values(CompressionCase{"jpeg_baseline", Encoding::JpegBaseline, 8, "1.2.840.10008.1.2.4.50"},
                      CompressionCase{"jpeg_lossless", Encoding::JpegLossless, 16, "1.2.840.10008.1.2.4.70"},
                      CompressionCase{"rle", Encoding::Rle, 16, "1.2.840.10008.1.2.5"},
                      CompressionCase{"jpeg2000_lossless", Encoding::Jpeg2000Lossless, 16,
                                      "1.2.840.10008.1.2.4.90"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(WrittenDicom, IdentifiersBodyPartViewAndSpacingReachTheSample) {
  DicomSpec spec;
  spec.values = {1, 2, 3, 4};
  spec.patient_id = "PAT-7";
  spec.study_uid = "1.2.3.4.5";
  spec.body_part = "HAND";
  spec.view = "PA";
  spec.pixel_spacing = "0.143\\0.15";
  const Sample sample = load_only(write("ids.dcm", spec));
  EXPECT_EQ(sample.info.patient_id, "PAT-7");
  EXPECT_EQ(sample.info.study_id, "1.2.3.4.5");
  EXPECT_EQ(sample.info.body_part, "hand");
  EXPECT_EQ(sample.info.view, "PA");
  ASSERT_TRUE(sample.info.pixel_spacing_mm.has_value());
  EXPECT_DOUBLE_EQ((*sample.info.pixel_spacing_mm)[0], 0.143);
  EXPECT_DOUBLE_EQ((*sample.info.pixel_spacing_mm)[1], 0.15);
  EXPECT_EQ(sample.info.id, "ids");
}

TEST_F(WrittenDicom, BodyPartParameterFillsInOnlyWhereTheTagIsEmpty) {
  DicomSpec with_tag, without_tag;
  with_tag.values = without_tag.values = {1, 2, 3, 4};
  with_tag.body_part = "ELBOW";
  write("a.dcm", with_tag);
  write("b.dcm", without_tag);
  DicomReader reader = make_reader({{"path", scratch_.path().string()}, {"body_part", "Wrist"s}});
  const auto first = reader.next(), second = reader.next();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(reader.load(*first).info.body_part, "elbow");
  EXPECT_EQ(reader.load(*second).info.body_part, "wrist");
}

// --- Broken files: each a clean per-file error -------------------------------------------------

class BrokenFiles : public WrittenDicom {
 protected:
  // The error loading `file` gives; fails the test when it loads.
  std::string error_of(const fs::path& file) {
    try {
      load_only(file);
    } catch (const SampleError& error) {
      EXPECT_EQ(error.path(), file.string());
      const std::string message = error.what();
      EXPECT_EQ(message.rfind("cannot read DICOM " + file.string() + ": ", 0), 0u) << message;
      return message;
    }
    ADD_FAILURE() << file << " loaded";
    return {};
  }

  std::string bytes_of_a_valid_file() {
    DicomSpec spec;
    spec.rows = spec.columns = 64;
    spec.values = ramp(64, 64, 1);
    const fs::path file = write("valid.dcm", spec);
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

TEST_F(BrokenFiles, EmptyFile) {
  EXPECT_NE(error_of(scratch_.write("empty.dcm", "")).find("not a DICOM file"), std::string::npos);
}

TEST_F(BrokenFiles, TruncatedFile) {
  const std::string whole = bytes_of_a_valid_file();
  // Cut in the middle of the pixel data, and by its last few bytes only.
  for (const std::size_t kept : {whole.size() / 2, whole.size() - 10}) {
    const std::string message = error_of(scratch_.write("truncated.dcm", whole.substr(0, kept)));
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  }
}

TEST_F(BrokenFiles, GarbageAfterThePreamble) {
  std::string garbage(128, '\0');
  garbage += "DICM";
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919 + 13) % 251);
  const std::string message = error_of(scratch_.write("garbage.dcm", garbage));
  EXPECT_FALSE(message.empty());
}

TEST_F(BrokenFiles, DicomWithoutPixelData) {
  const fs::path file = scratch_.path() / "report.dcm";
  testing::write_dicom_without_pixels(file);
  EXPECT_NE(error_of(file).find("no pixel data"), std::string::npos);
}

TEST_F(BrokenFiles, NotDicomButNamedDcm) {
  const std::string message =
      error_of(scratch_.write("photo.dcm", "This is a plain text file, not a radiograph.\n"));
  EXPECT_NE(message.find("DICM"), std::string::npos) << message;
}

TEST_F(BrokenFiles, ADecoderThatAbortsCostsOnlyThatFile) {
  DicomSpec spec;
  spec.values = {1, 2, 3, 4};
  const fs::path file = write("fine.dcm", spec);
  DicomReader reader(resolve_params(DicomReader::schema(), {{"path", file.string()}}), StageContext{},
                     RADPIPE_ABORTING_DECODER);
  const auto info = reader.next();
  ASSERT_TRUE(info);
  try {
    reader.load(*info);
    FAIL() << "the aborting decoder cannot have decoded anything";
  } catch (const SampleError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("the decoder was killed by signal 6"), std::string::npos) << message;
    EXPECT_NE(message.find("Assertion `len > 0' failed."), std::string::npos) << message;
  }
  // This process lives on, and the real decoder reads the same file.
  EXPECT_EQ(load_only(file).image.size(), cv::Size(2, 2));
}

// --- Folders ------------------------------------------------------------------------------------

TEST_F(WrittenDicom, AFolderIsListedRecursivelyAndGroupedIntoStudies) {
  DicomSpec spec;
  spec.values = {1, 2, 3, 4};
  const std::string study_a = "1.2.826.0.1.3680043.10.543.100", study_b = "1.2.826.0.1.3680043.10.543.200";
  spec.study_uid = study_a;
  fs::create_directories(scratch_.path() / "a");
  write("a/1.dcm", spec);
  write("a/2.DCM", spec);
  write("a/1.2.840.999.3", spec); // no extension but the DICM marker: a UID-named archive file
  spec.study_uid = study_b;
  fs::create_directories(scratch_.path() / "b");
  write("b/1.dcm", spec);
  write("b/2.dcm", spec);
  scratch_.write("b/notes.txt", "not DICOM, not listed");
  fs::create_directories(scratch_.path() / ".trash");
  write(".trash/old.dcm", spec);

  DicomReader reader = make_reader({{"path", scratch_.path().string()}});
  EXPECT_EQ(reader.size_hint(), 5u);
  std::vector<SampleInfo> infos;
  while (auto info = reader.next()) infos.push_back(*info);
  std::vector<std::string> ids;
  for (const auto& info : infos) ids.push_back(info.id);
  // Sorted by path: "a/1.2.840.999.3" precedes "a/1.dcm" because '2' sorts before 'd'.
  EXPECT_EQ(ids, (std::vector<std::string>{"a/1.2.840.999.3", "a/1", "a/2", "b/1", "b/2"}));

  // Loaded from several threads at once, as the host's workers do.
  std::vector<std::future<Sample>> loads;
  for (const auto& info : infos)
    loads.push_back(std::async(std::launch::async, [&reader, info] { return reader.load(info); }));
  std::map<std::string, std::set<std::string>> studies;
  for (auto& load : loads) {
    const Sample sample = load.get();
    studies[sample.info.study_key()].insert(sample.info.id);
  }
  EXPECT_EQ(studies, (std::map<std::string, std::set<std::string>>{
                         {study_a, {"a/1", "a/1.2.840.999.3", "a/2"}}, {study_b, {"b/1", "b/2"}}}));
}

TEST(DicomReaderParameters, AFolderWithoutDicomFilesIsAnError) {
  TempFolder scratch;
  scratch.write("notes.txt", "nothing here");
  try {
    make_reader({{"path", scratch.path().string()}});
    FAIL() << "an empty dataset should be an error";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "path");
    EXPECT_NE(std::string(error.what()).find("no DICOM files under"), std::string::npos) << error.what();
  }
}

TEST(DicomReaderParameters, PercentilesMustRise) {
  try {
    make_reader(
        {{"path", shared_dicom("RG3_J2KR.dcm").string()}, {"percentiles", std::vector<double>{90, 10}}});
    FAIL() << "low above high should be an error";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "percentiles");
  }
}

TEST(DicomReaderParameters, TheDecoderIsFoundBesideThePlugin) {
  // In this test binary the reader's code is linked in, so "beside the library" is the test's
  // own folder; the plugin's copy is checked through its real location instead.
  EXPECT_EQ(fs::path(RADPIPE_DICOM_DECODER).parent_path(), fs::path(RADPIPE_PLUGIN_DIR));
  EXPECT_EQ(fs::path(RADPIPE_DICOM_DECODER).filename(), "radpipe-dicom-decoder");
}

} // namespace
} // namespace radpipe::dicom
