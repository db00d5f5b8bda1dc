// DICOM breadth: colour in several photometric interpretations and transfer syntaxes, 1-bit,
// 32-bit integer and float pixels, multi-frame files, and the `stored` window. Each file is
// written with GDCM; its pixels are checked against what was written. Pixel semantics are the
// decoder's, so most cases decode in this process (fast); the reader-level cases go through the
// decoder pool and the real helper.
#include <gtest/gtest.h>

#include <cmath>
#include <future>
#include <limits>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/error.hpp>
#include <radpipe/image.hpp>
#include <radpipe/testing.hpp>

#include "dicom_decode.hpp"
#include "dicom_files.hpp"
#include "dicom_reader.hpp"

namespace radpipe::dicom {
namespace {

namespace fs = std::filesystem;
using radpipe::testing::TempFolder;
using testing::DicomSpec;
using testing::Encoding;
using testing::Photometric;
using namespace std::string_literals;

class Breadth : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const DicomSpec& spec) {
    const fs::path file = scratch_.path() / name;
    testing::write_dicom(file, spec);
    return file;
  }
  DecodedDicom decode(const fs::path& file, DecodeOptions options = {}, int frame = 1) {
    return decoder_.decode(file.string(), frame, options);
  }
  TempFolder scratch_;
  DicomDecoder decoder_;
};

// A smooth colour gradient (16x16, 8-bit): neighbouring pixels differ little, so chroma
// subsampling and lossy coding stay close to it.
cv::Mat gradient_rgb() {
  cv::Mat rgb(16, 16, CV_8UC3);
  for (int y = 0; y < rgb.rows; ++y)
    for (int x = 0; x < rgb.cols; ++x)
      rgb.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(40 + 8 * x), static_cast<uchar>(60 + 6 * y),
                                          static_cast<uchar>(200 - 5 * x - 3 * y));
  return rgb;
}

std::vector<std::int64_t> values_of(const cv::Mat& image) {
  cv::Mat wide;
  image.reshape(1, 1).convertTo(wide, CV_64F);
  return std::vector<std::int64_t>(wide.begin<double>(), wide.end<double>());
}

double largest_difference(const cv::Mat& a, const cv::Mat& b) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.type(), b.type());
  if (a.size() != b.size() || a.type() != b.type()) return std::numeric_limits<double>::infinity();
  return cv::norm(a, b, cv::NORM_INF);
}

std::uint16_t shade(double fraction) {
  if (!(fraction > 0.0)) return 0;
  return static_cast<std::uint16_t>(std::lround(std::min(fraction, 1.0) * 65535.0));
}

std::vector<std::uint16_t> pixels16(const cv::Mat& image) {
  EXPECT_EQ(image.type(), CV_16UC1);
  return std::vector<std::uint16_t>(image.begin<std::uint16_t>(), image.end<std::uint16_t>());
}

std::vector<std::uint8_t> pixels8(const cv::Mat& image) {
  EXPECT_EQ(image.type(), CV_8UC1);
  return std::vector<std::uint8_t>(image.begin<std::uint8_t>(), image.end<std::uint8_t>());
}

// --- Colour -----------------------------------------------------------------------------------

struct ColourCase {
  const char* name;
  Photometric photometric;
  Encoding encoding;
  bool planar;
  const char* photometric_name; // as the file declares it
  double tolerance;             // per channel, on 0..255
};

class Colour : public Breadth, public ::testing::WithParamInterface<ColourCase> {};

TEST_P(Colour, DecodesToTheRgbWrittenAndToItsLuma) {
  const auto& test = GetParam();
  const cv::Mat rgb = gradient_rgb();
  DicomSpec spec;
  spec.rows = rgb.rows;
  spec.columns = rgb.cols;
  spec.samples = 3;
  spec.bits_allocated = spec.bits_stored = 8;
  spec.values = values_of(rgb);
  spec.photometric = test.photometric;
  spec.planar = test.planar;
  spec.encoding = test.encoding;
  const fs::path file = write(std::string(test.name) + ".dcm", spec);

  DecodeOptions as_rgb;
  as_rgb.color = ColorMode::Rgb;
  const DecodedDicom colour = decode(file, as_rgb);
  // No window tags apply to colour: the stored range, 8 bits as written, in RGB order.
  EXPECT_EQ(colour.image.type(), CV_8UC3);
  EXPECT_LE(largest_difference(colour.image, rgb), test.tolerance);
  EXPECT_EQ(colour.header.tags.at("PhotometricInterpretation"), test.photometric_name);
  EXPECT_EQ(colour.header.tags.at("SamplesPerPixel"), "3");
  EXPECT_EQ(colour.header.tags.at("window_source"), "stored (no window tags)");
  EXPECT_EQ(colour.header.tags.at("color"), "rgb");

  // Luma, the default: the grayscale transform's conversion of the same RGB.
  const DecodedDicom luma = decode(file);
  cv::Mat expected;
  cv::cvtColor(rgb, expected, cv::COLOR_RGB2GRAY);
  EXPECT_EQ(luma.image.type(), CV_8UC1);
  EXPECT_LE(largest_difference(luma.image, expected), test.tolerance);
  cv::Mat luma_of_decoded;
  cv::cvtColor(colour.image, luma_of_decoded, cv::COLOR_RGB2GRAY);
  EXPECT_EQ(largest_difference(luma.image, luma_of_decoded), 0.0) << "luma is the luma of the decoded RGB";
}

INSTANTIATE_TEST_SUITE_P(
    PhotometricsAndSyntaxes, Colour,
    ::testing::Values(
        ColourCase{"rgb", Photometric::Rgb, Encoding::Uncompressed, false, "RGB", 0},
        ColourCase{"rgb_planar", Photometric::Rgb, Encoding::Uncompressed, true, "RGB", 0},
        ColourCase{"rgb_rle", Photometric::Rgb, Encoding::Rle, false, "RGB", 0},
        ColourCase{"rgb_jpeg_lossless", Photometric::Rgb, Encoding::JpegLossless, false, "RGB", 0},
        // RGB -> YBR_FULL -> RGB rounds twice: within 2 levels.
        ColourCase{"ybr_full", Photometric::YbrFull, Encoding::Uncompressed, false, "YBR_FULL", 2},
        ColourCase{"ybr_full_planar", Photometric::YbrFull, Encoding::Uncompressed, true, "YBR_FULL", 2},
        ColourCase{"ybr_full_rle", Photometric::YbrFull, Encoding::Rle, false, "YBR_FULL", 2},
        // Chroma shared by horizontal pairs whose colours differ by 8 levels in red and 5 in blue.
        ColourCase{"ybr_full_422", Photometric::YbrFull422, Encoding::Uncompressed, false, "YBR_FULL_422", 6},
        ColourCase{"ybr_full_422_jpeg_baseline", Photometric::YbrFull422, Encoding::JpegBaseline, false,
                   "YBR_FULL_422", 10},
        ColourCase{"ybr_rct_jpeg2000_lossless", Photometric::YbrRct, Encoding::Jpeg2000Lossless, false,
                   "YBR_RCT", 0},
        ColourCase{"ybr_ict_jpeg2000", Photometric::YbrIct, Encoding::Jpeg2000, false, "YBR_ICT", 6}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(Breadth, SixteenBitColourMapsItsStoredRangeOntoSixteenBits) {
  DicomSpec spec;
  spec.rows = 1;
  spec.columns = 2;
  spec.samples = 3;
  spec.bits_stored = 12;
  spec.values = {0, 4095, 2048, 1000, 2000, 3000};
  spec.photometric = Photometric::Rgb;
  DecodeOptions as_rgb;
  as_rgb.color = ColorMode::Rgb;
  const cv::Mat image = decode(write("rgb16.dcm", spec), as_rgb).image;
  ASSERT_EQ(image.type(), CV_16UC3);
  const auto* pixels = image.ptr<std::uint16_t>();
  for (std::size_t i = 0; i < spec.values.size(); ++i)
    EXPECT_EQ(pixels[i], shade(static_cast<double>(spec.values[i]) / 4095.0)) << i;
}

// --- Bits ------------------------------------------------------------------------------------

TEST_F(Breadth, OneBitPixelsComeOutBlackAndWhite) {
  DicomSpec spec;
  spec.rows = 3;
  spec.columns = 5; // 15 pixels: not a whole number of bytes
  spec.bits_allocated = spec.bits_stored = 1;
  spec.values = {1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1};
  const DecodedDicom decoded = decode(write("bits.dcm", spec));
  std::vector<std::uint8_t> expected;
  for (const auto value : spec.values) expected.push_back(value ? 255 : 0);
  EXPECT_EQ(pixels8(decoded.image), expected);
  EXPECT_EQ(decoded.header.tags.at("BitsAllocated"), "1");
  EXPECT_EQ(decoded.header.tags.at("window_source"), "stored (no window tags)");

  spec.photometric = Photometric::Monochrome1;
  std::vector<std::uint8_t> inverted;
  for (const auto value : expected) inverted.push_back(static_cast<std::uint8_t>(255 - value));
  EXPECT_EQ(pixels8(decode(write("bits_mono1.dcm", spec)).image), inverted);
}

TEST_F(Breadth, ThirtyTwoBitUnsignedSpansItsWholeRange) {
  DicomSpec spec;
  spec.rows = 1;
  spec.columns = 4;
  spec.bits_allocated = spec.bits_stored = 32;
  const double top = 4294967295.0;
  spec.values = {0, 1000000, 2147483648, 4294967295};
  const fs::path file = write("uint32.dcm", spec);
  const DecodedDicom full = decode(file);
  EXPECT_EQ(full.header.tags.at("window_source"), "full (no window tags)");
  EXPECT_EQ(pixels16(full.image),
            (std::vector<std::uint16_t>{0, shade(1e6 / top), shade(2147483648.0 / top), 65535}));
  EXPECT_EQ(full.header.tags.at("stored_max"), "4294967295");

  DecodeOptions stored;
  stored.window = WindowMode::Stored;
  // The stored range is 0..2^32-1 here, the same as the values': the same shades.
  EXPECT_EQ(pixels16(decode(file, stored).image), pixels16(full.image));
}

TEST_F(Breadth, ThirtyTwoBitSignedWithWindowTagsAndMaskedHighBits) {
  DicomSpec spec;
  spec.rows = 1;
  spec.columns = 4;
  spec.bits_allocated = spec.bits_stored = 32;
  spec.is_signed = true;
  spec.values = {-2147483648LL, -100000, 100000, 2147483647};
  spec.window = std::pair{0.0, 200001.0};
  const DecodedDicom decoded = decode(write("int32.dcm", spec));
  // LINEAR window c = 0, w = 200001: x <= -100000.5 is black, x > 99999.5 white, else (x + 0.5)/200000 + 0.5.
  EXPECT_EQ(pixels16(decoded.image), (std::vector<std::uint16_t>{0, shade(0.5 / 200000.0), 65535, 65535}));
  EXPECT_EQ(decoded.header.tags.at("stored_min"), "-2147483648");

  // 20 bits stored in 32: the bits above them are overlay or garbage and must not count.
  DicomSpec masked;
  masked.rows = 1;
  masked.columns = 3;
  masked.bits_allocated = 32;
  masked.bits_stored = 20;
  masked.values = {0, (std::int64_t{0xabc} << 20) | 0x80000, (std::int64_t{0xfff} << 20) | 0xfffff};
  DecodeOptions stored;
  stored.window = WindowMode::Stored;
  EXPECT_EQ(pixels16(decode(write("masked.dcm", masked), stored).image),
            (std::vector<std::uint16_t>{0, shade(524288.0 / 1048575.0), 65535}));
}

TEST_F(Breadth, EightBitsAllocatedWithFewerStoredAreMaskedWhereGdcmWouldAbort) {
  // GDCM 3.0 asserts on 8 (and 32) bits allocated with fewer stored; the decoder avoids it.
  DicomSpec spec;
  spec.rows = spec.columns = 4;
  spec.bits_allocated = 8;
  spec.bits_stored = 6;
  for (int i = 0; i < 16; ++i) spec.values.push_back(i * 4 + 3);
  std::vector<std::uint8_t> expected;
  for (const auto value : spec.values)
    expected.push_back(static_cast<std::uint8_t>(std::lround(static_cast<double>(value) * 255.0 / 63.0)));
  DecodeOptions stored;
  stored.window = WindowMode::Stored;
  EXPECT_EQ(pixels8(decode(write("six_bits_lossless.dcm",
                                 [&] {
                                   DicomSpec lossless = spec;
                                   lossless.encoding = Encoding::JpegLossless;
                                   return lossless;
                                 }()),
                           stored)
                        .image),
            expected);
  // Uncompressed, with the two bits above the stored six set, as overlays leave them.
  for (auto& value : spec.values) value |= 0xc0;
  EXPECT_EQ(pixels8(decode(write("six_bits.dcm", spec), stored).image), expected);
  // GDCM's RLE codec aborts on them while reading the file: refused from the header first.
  spec.encoding = Encoding::Rle;
  try {
    decode(write("six_bits_rle.dcm", spec));
    ADD_FAILURE() << "RLE with 6 of 8 bits decoded";
  } catch (const DecodeError& error) {
    EXPECT_NE(std::string(error.what()).find("6 bits stored in 8 allocated, RLE-compressed"),
              std::string::npos)
        << error.what();
  }
}

TEST_F(Breadth, FloatPixelDataIsWindowedOnItsOwnRangeOrReadAsZeroToOne) {
  for (const int bits : {32, 64}) {
    SCOPED_TRACE(bits);
    DicomSpec spec;
    spec.rows = 2;
    spec.columns = 3;
    spec.float_values = {-1.0, 0.0, 0.25, 0.5, 1.0, 2.0};
    spec.float_bits = bits;
    const fs::path file = write("float" + std::to_string(bits) + ".dcm", spec);
    const DecodedDicom full = decode(file);
    EXPECT_EQ(full.header.tags.at("PixelRepresentation"), "float");
    EXPECT_EQ(full.header.tags.at("window_source"), "full (no window tags)");
    // -1..2 onto 0..65535.
    EXPECT_EQ(pixels16(full.image), (std::vector<std::uint16_t>{0, shade(1 / 3.0), shade(1.25 / 3),
                                                                shade(1.5 / 3), shade(2 / 3.0), 65535}));
    DecodeOptions stored;
    stored.window = WindowMode::Stored;
    // As float image files are read: 0..1 is the full scale, beyond it clipped.
    EXPECT_EQ(pixels16(decode(file, stored).image),
              (std::vector<std::uint16_t>{0, 0, shade(0.25), shade(0.5), 65535, 65535}));
  }
}

// --- The stored window ------------------------------------------------------------------------

TEST_F(Breadth, StoredWindowMapsBitsStoredOntoTheFullScale) {
  DicomSpec spec;
  spec.rows = 1;
  spec.columns = 4;
  spec.bits_stored = 12;
  spec.values = {0, 100, 2000, 3000}; // the image's own range stops well short of 4095
  spec.window = std::pair{1000.0, 500.0};
  DecodeOptions stored;
  stored.window = WindowMode::Stored;
  const DecodedDicom decoded = decode(write("twelve.dcm", spec), stored);
  EXPECT_EQ(pixels16(decoded.image),
            (std::vector<std::uint16_t>{0, shade(100 / 4095.0), shade(2000 / 4095.0), shade(3000 / 4095.0)}));
  EXPECT_EQ(decoded.header.tags.at("window_source"), "stored");
  EXPECT_EQ(decoded.header.tags.at("window_high"), "4095");
}

TEST_F(Breadth, EightBitFilesComeOutAsStoredByDefault) {
  DicomSpec spec;
  spec.rows = 1;
  spec.columns = 4;
  spec.bits_allocated = spec.bits_stored = 8;
  spec.values = {20, 21, 100, 230}; // not 0..255: stretching would change them
  const fs::path file = write("eight.dcm", spec);
  const DecodedDicom decoded = decode(file);
  EXPECT_EQ(pixels8(decoded.image), (std::vector<std::uint8_t>{20, 21, 100, 230}));
  EXPECT_EQ(decoded.header.tags.at("window_source"), "stored (no window tags)");
  DecodeOptions stored;
  stored.window = WindowMode::Stored;
  EXPECT_EQ(pixels8(decode(file, stored).image), (std::vector<std::uint8_t>{20, 21, 100, 230}));

  // The other windows keep their 16-bit scale: "full" stretches 20..230.
  DecodeOptions full;
  full.window = WindowMode::Full;
  EXPECT_EQ(pixels16(decode(file, full).image),
            (std::vector<std::uint16_t>{0, shade(1 / 210.0), shade(80 / 210.0), 65535}));

  // Window tags, when a file has them, still come first.
  spec.window = std::pair{128.0, 256.0};
  EXPECT_EQ(decode(write("eight_windowed.dcm", spec)).header.tags.at("window_source"), "window_tags");

  // Signed 8-bit: -128..127 onto 0..255; MONOCHROME1 upside down.
  DicomSpec signed_spec = spec;
  signed_spec.window.reset();
  signed_spec.is_signed = true;
  signed_spec.values = {-128, -1, 0, 127};
  signed_spec.photometric = Photometric::Monochrome1;
  EXPECT_EQ(pixels8(decode(write("signed8.dcm", signed_spec)).image),
            (std::vector<std::uint8_t>{255, 128, 127, 0}));
}

// --- Frames -----------------------------------------------------------------------------------

TEST_F(Breadth, EachFrameOfAMultiFrameFileDecodesToItsOwnPixels) {
  struct Case {
    const char* name;
    int bits;
    Encoding encoding;
  };
  for (const Case& test :
       {Case{"multi8", 8, Encoding::Uncompressed}, Case{"multi16_rle", 16, Encoding::Rle},
        Case{"multi8_jpeg_lossless", 8, Encoding::JpegLossless}, Case{"multi1", 1, Encoding::Uncompressed}}) {
    SCOPED_TRACE(test.name);
    DicomSpec spec;
    spec.rows = 3;
    spec.columns = 3; // 9 pixels a frame: 1-bit frames do not start on a byte
    spec.frames = 4;
    spec.bits_allocated = spec.bits_stored = test.bits;
    for (int frame = 0; frame < spec.frames; ++frame)
      for (int i = 0; i < 9; ++i) spec.values.push_back(test.bits == 1 ? (frame + i) % 2 : frame * 50 + i);
    const fs::path file = write(std::string(test.name) + ".dcm", spec);
    EXPECT_EQ(decoder_.count_frames(file.string()), 4);
    DecodeOptions stored;
    stored.window = WindowMode::Stored;
    const double top = std::ldexp(1.0, test.bits) - 1.0;
    for (int frame = 1; frame <= 4; ++frame) {
      const DecodedDicom decoded = decode(file, stored, frame);
      EXPECT_EQ(decoded.header.tags.at("frame"), std::to_string(frame));
      EXPECT_EQ(decoded.header.tags.at("NumberOfFrames"), "4");
      cv::Mat wide;
      decoded.image.convertTo(wide, CV_64F, 1.0 / depth_maximum(decoded.image.depth()));
      for (int i = 0; i < 9; ++i)
        EXPECT_NEAR(wide.at<double>(i / 3, i % 3),
                    static_cast<double>(spec.values[static_cast<std::size_t>((frame - 1) * 9 + i)]) / top,
                    1e-4)
            << "frame " << frame << " pixel " << i;
    }
    try {
      decode(file, stored, 5);
      ADD_FAILURE() << "frame 5 of 4 decoded";
    } catch (const DecodeError& error) {
      EXPECT_NE(std::string(error.what()).find("4 frame(s); frame 5 does not exist"), std::string::npos)
          << error.what();
    }
  }
}

// --- Through the reader and the decoder pool --------------------------------------------------

DicomReader make_reader(std::map<std::string, ParamValue> values,
                        const fs::path& decoder = RADPIPE_DICOM_DECODER) {
  return DicomReader(resolve_params(DicomReader::schema(), std::move(values)), StageContext{}, decoder);
}

TEST_F(Breadth, TheReaderListsEveryFrameAsASampleOfTheSameStudy) {
  DicomSpec single;
  single.values = {1, 2, 3, 4};
  single.study_uid = "1.2.826.0.1.3680043.10.543.300";
  write("a.dcm", single);
  DicomSpec cine = single;
  cine.frames = 3;
  cine.bits_allocated = cine.bits_stored = 8;
  cine.values = {10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33};
  cine.study_uid = "1.2.826.0.1.3680043.10.543.301";
  write("cine.dcm", cine);
  DicomSpec colour_cine = cine;
  colour_cine.samples = 3;
  colour_cine.frames = 2;
  colour_cine.photometric = Photometric::Rgb;
  colour_cine.values.resize(2 * 4 * 3, 128);
  write("colour.dcm", colour_cine);

  DicomReader reader =
      make_reader({{"path", scratch_.path().string()}, {"color", "rgb"s}, {"decoders", std::int64_t{2}}});
  std::vector<SampleInfo> infos;
  while (auto info = reader.next()) infos.push_back(*info);
  std::vector<std::string> ids;
  for (const auto& info : infos) ids.push_back(info.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "cine#frame1", "cine#frame2", "cine#frame3", "colour#frame1",
                                           "colour#frame2"}));
  for (std::size_t i = 0; i < infos.size(); ++i) EXPECT_EQ(infos[i].index, i);

  // Loaded from several threads at once, as the host's workers do.
  std::vector<std::future<Sample>> loads;
  for (const auto& info : infos)
    loads.push_back(std::async(std::launch::async, [&reader, info] { return reader.load(info); }));
  std::vector<Sample> samples;
  for (auto& load : loads) samples.push_back(load.get());
  for (int frame = 1; frame <= 3; ++frame) {
    const Sample& sample = samples[static_cast<std::size_t>(frame)];
    EXPECT_EQ(sample.info.study_id, "1.2.826.0.1.3680043.10.543.301");
    EXPECT_EQ(sample.info.tags.at("frame"), std::to_string(frame));
    EXPECT_EQ(pixels8(sample.image),
              (std::vector<std::uint8_t>{
                  static_cast<std::uint8_t>(frame * 10), static_cast<std::uint8_t>(frame * 10 + 1),
                  static_cast<std::uint8_t>(frame * 10 + 2), static_cast<std::uint8_t>(frame * 10 + 3)}));
  }
  EXPECT_EQ(samples[4].image.type(), CV_8UC3);
  EXPECT_EQ(samples[5].info.study_key(), samples[4].info.study_key());
}

TEST_F(Breadth, AFileThatCrashesTheFrameCountIsStillOneSkippableSample) {
  DicomSpec spec;
  spec.values = {1, 2, 3, 4};
  write("1-good.dcm", spec);
  write("2-abort.dcm", spec); // the misbehaving decoder aborts on it, counting frames and decoding
  write("3-good.dcm", spec);
  DicomReader reader = make_reader({{"path", scratch_.path().string()}}, RADPIPE_MISBEHAVING_DECODER);
  std::vector<SampleInfo> infos;
  while (auto info = reader.next()) infos.push_back(*info);
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[1].id, "2-abort");
  EXPECT_EQ(reader.load(infos[0]).image.size(), cv::Size(2, 2));
  try {
    reader.load(infos[1]);
    ADD_FAILURE() << "the aborting file loaded";
  } catch (const SampleError& error) {
    EXPECT_NE(std::string(error.what()).find("killed by signal 6"), std::string::npos) << error.what();
  }
  EXPECT_EQ(reader.load(infos[2]).image.size(), cv::Size(2, 2));
}

TEST(BreadthParameters, ColorAndWindowNamesAreDeclared) {
  const Schema schema = DicomReader::schema();
  ASSERT_NE(schema.find("color"), nullptr);
  EXPECT_EQ(schema.find("color")->choices, (std::vector<std::string>{"luma", "rgb"}));
  EXPECT_EQ(schema.find("window")->choices,
            (std::vector<std::string>{"tags", "stored", "full", "percentile"}));
  ASSERT_NE(schema.find("decoders"), nullptr);
}

} // namespace
} // namespace radpipe::dicom
