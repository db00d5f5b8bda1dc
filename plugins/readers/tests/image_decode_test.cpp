#include "image_decode.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>
#include <vector>

#include "test_support.hpp"

namespace radpipe::readers {
namespace {

using radpipe::testing::TempFolder;
using testing::fracatlas_dir;

// The readers' default max_pixels.
constexpr std::uint64_t any_radiograph = 100'000'000;

std::string encode(const std::string& extension, const cv::Mat& image) {
  std::vector<unsigned char> bytes;
  EXPECT_TRUE(cv::imencode(extension, image, bytes));
  return {bytes.begin(), bytes.end()};
}

cv::Mat gradient(int rows, int cols) {
  cv::Mat image(rows, cols, CV_8UC1);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      image.at<unsigned char>(r, c) = static_cast<unsigned char>((r * 7 + c * 3) % 256);
  return image;
}

// Expects decoding `file` to throw SampleError whose path is `file` and whose message names the
// file and contains `reason`.
void expect_sample_error(const std::filesystem::path& file, const std::string& reason) {
  try {
    decode_image_file(file, any_radiograph);
    FAIL() << "decoding " << file << " should have failed";
  } catch (const SampleError& error) {
    EXPECT_EQ(error.path(), file.string());
    EXPECT_NE(std::string(error.what()).find(file.string()), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find(reason), std::string::npos) << error.what();
  }
}

TEST(DecodeImage, FracAtlasColourJpegIs8BitRgbAtItsSize) {
  const cv::Mat image = decode_image_file(fracatlas_dir() / "images" / "IMG0000005.jpg", any_radiograph);
  EXPECT_EQ(image.type(), CV_8UC3);
  EXPECT_EQ(image.cols, 421);
  EXPECT_EQ(image.rows, 512);
}

TEST(DecodeImage, FracAtlasGrayJpegStaysSingleChannel) {
  const cv::Mat image = decode_image_file(fracatlas_dir() / "images" / "IMG0000008.jpg", any_radiograph);
  EXPECT_EQ(image.type(), CV_8UC1);
  EXPECT_EQ(image.cols, 410);
  EXPECT_EQ(image.rows, 512);
  double high = 0;
  cv::minMaxLoc(image, nullptr, &high);
  EXPECT_GT(high, 0.0); // a radiograph, not a blank page
}

TEST(DecodeImage, Gray16BitPngKeepsExactValues) {
  TempFolder scratch;
  cv::Mat written(20, 30, CV_16UC1, cv::Scalar(1234));
  written.at<std::uint16_t>(3, 4) = 65535;
  const auto file = scratch.path() / "deep.png";
  ASSERT_TRUE(cv::imwrite(file.string(), written));

  const cv::Mat image = decode_image_file(file, any_radiograph);
  ASSERT_EQ(image.type(), CV_16UC1);
  double high = 0;
  cv::minMaxLoc(image, nullptr, &high);
  EXPECT_EQ(high, 65535.0);
  EXPECT_EQ(image.at<std::uint16_t>(3, 4), 65535);
  EXPECT_EQ(image.at<std::uint16_t>(0, 0), 1234);
}

TEST(DecodeImage, Colour16BitPngComesBackInRgbOrder) {
  TempFolder scratch;
  // OpenCV writes BGR: blue 100, green 200, red 40000.
  const cv::Mat written(4, 4, CV_16UC3, cv::Scalar(100, 200, 40000));
  const auto file = scratch.path() / "colour16.png";
  ASSERT_TRUE(cv::imwrite(file.string(), written));

  const cv::Mat image = decode_image_file(file, any_radiograph);
  ASSERT_EQ(image.type(), CV_16UC3);
  const auto pixel = image.at<cv::Vec<std::uint16_t, 3>>(2, 2);
  EXPECT_EQ(pixel[0], 40000); // red first
  EXPECT_EQ(pixel[1], 200);
  EXPECT_EQ(pixel[2], 100);
}

TEST(DecodeImage, AlphaIsDroppedAndOrderIsRgb) {
  TempFolder scratch;
  const cv::Mat written(5, 6, CV_8UC4, cv::Scalar(10, 20, 30, 40)); // B, G, R, A
  const auto file = scratch.path() / "alpha.png";
  ASSERT_TRUE(cv::imwrite(file.string(), written));

  const cv::Mat image = decode_image_file(file, any_radiograph);
  ASSERT_EQ(image.type(), CV_8UC3);
  EXPECT_EQ(image.at<cv::Vec3b>(1, 1), cv::Vec3b(30, 20, 10));
}

TEST(DecodeImage, TruncatedJpegIsASampleError) {
  TempFolder scratch;
  const std::string whole = encode(".jpg", gradient(64, 64));
  const auto complete = scratch.write("complete.jpg", whole);
  EXPECT_EQ(decode_image_file(complete, any_radiograph).size(), cv::Size(64, 64)); // the same bytes, whole, decode
  expect_sample_error(scratch.write("truncated.jpg", whole.substr(0, whole.size() / 2)), "truncated JPEG");
  // Without even the end marker, only the last two bytes missing.
  expect_sample_error(scratch.write("clipped.jpg", whole.substr(0, whole.size() - 2)), "truncated JPEG");
}

TEST(DecodeImage, TruncatedPngIsASampleError) {
  TempFolder scratch;
  const std::string whole = encode(".png", gradient(64, 64));
  expect_sample_error(scratch.write("truncated.png", whole.substr(0, whole.size() / 2)), "cannot decode");
}

TEST(DecodeImage, TextFileNamedPngIsASampleError) {
  TempFolder scratch;
  expect_sample_error(scratch.write("notes.png", "this is not an image\n"), "found no image");
}

TEST(DecodeImage, EmptyFileIsASampleError) {
  TempFolder scratch;
  expect_sample_error(scratch.write("empty.png", ""), "empty");
}

TEST(DecodeImage, MissingFileIsASampleError) {
  TempFolder scratch;
  expect_sample_error(scratch.path() / "absent.png", "no such file");
}

TEST(DecodeImage, FolderIsASampleError) {
  TempFolder scratch;
  std::filesystem::create_directories(scratch.path() / "folder.png");
  expect_sample_error(scratch.path() / "folder.png", "not a regular file");
}

TEST(JpegIsComplete, AcceptsEveryFracAtlasImage) {
  std::size_t checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(fracatlas_dir() / "images")) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                           std::istreambuf_iterator<char>());
    EXPECT_TRUE(jpeg_is_complete(bytes)) << entry.path();
    ++checked;
  }
  EXPECT_EQ(checked, 3419u);
}

TEST(JpegIsComplete, RejectsEveryTruncationOfASmallJpeg) {
  const std::string whole = encode(".jpg", gradient(16, 16));
  const std::vector<unsigned char> bytes(whole.begin(), whole.end());
  ASSERT_TRUE(jpeg_is_complete(bytes));
  for (std::size_t length = 3; length < bytes.size() - 1; ++length)
    EXPECT_FALSE(jpeg_is_complete(std::span(bytes).first(length)))
        << "cut at " << length << " of " << bytes.size();
}


// ------------------------------------------------------------------------------- decode hints

DecodeHint grey_covering(int side) {
  DecodeHint hint;
  hint.channels = DecodeHint::Channels::Gray;
  hint.min_width = hint.min_height = side;
  hint.cover = DecodeHint::Cover::Either;
  return hint;
}

TEST(DecodeHints, ColourJpegDecodesStraightToGreyAtReducedScale) {
  const auto file = fracatlas_dir() / "images" / "IMG0000005.jpg"; // 421x512, three components
  const cv::Mat grey = decode_image_file(file, any_radiograph, grey_covering(512));
  EXPECT_EQ(grey.type(), CV_8UC1);
  EXPECT_EQ(grey.size(), cv::Size(421, 512));
  // 1/2 is 211x256, which covers 200 on one side; 1/4 (106x128) covers 128 on one side,
  // which is enough for an image fitted inside (Cover::Either).
  EXPECT_EQ(decode_image_file(file, any_radiograph, grey_covering(200)).size(), cv::Size(211, 256));
  EXPECT_EQ(decode_image_file(file, any_radiograph, grey_covering(128)).size(), cv::Size(106, 128));
  DecodeHint colour = grey_covering(128);
  colour.channels = DecodeHint::Channels::Any;
  EXPECT_EQ(decode_image_file(file, any_radiograph, colour).type(), CV_8UC3);
  EXPECT_EQ(decode_image_file(file, any_radiograph, colour).size(), cv::Size(106, 128));
}

TEST(DecodeHints, OnlyJpegIsReducedAndSixteenBitsStayUnlessEightAreEnough) {
  TempFolder scratch;
  const cv::Mat written(400, 300, CV_16UC3, cv::Scalar(100, 200, 40000));
  const auto file = scratch.path() / "colour16.png";
  ASSERT_TRUE(cv::imwrite(file.string(), written));

  // OpenCV would shrink a PNG after a full decode, with a linear filter: the resize does it better.
  const cv::Mat grey = decode_image_file(file, any_radiograph, grey_covering(64));
  EXPECT_EQ(grey.type(), CV_16UC1);
  EXPECT_EQ(grey.size(), cv::Size(300, 400));
  DecodeHint eight_bits = grey_covering(64);
  eight_bits.max_bits = 8;
  EXPECT_EQ(decode_image_file(file, any_radiograph, eight_bits).type(), CV_8UC1);
}

// Debian's OpenCV would hand a DICOM file to GDCM, in this process, where a malformed one aborts
// it (the image_decode fuzz target found such a file; regressions/image_decode keeps it). DICOM is
// the dicom reader's, whose decoder runs in a helper process.
TEST(DecodeImage, ADicomFileIsRefusedBeforeOpenCvCanHandItToGdcm) {
  TempFolder scratch;
  std::ifstream in(fracatlas_dir().parent_path() / "dicom" / "RG1_J2KI.dcm", std::ios::binary);
  const std::string dicom((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(dicom.size(), 132u);
  const auto file = scratch.write("radiograph.png", dicom); // named like an image
  try {
    decode_image_file(file, any_radiograph);
    FAIL() << "a DICOM file must not reach OpenCV";
  } catch (const SampleError& error) {
    EXPECT_NE(std::string(error.what()).find("it is a DICOM file"), std::string::npos) << error.what();
  }
}

std::size_t open_file_descriptors() {
  const auto entries = std::filesystem::directory_iterator("/proc/self/fd");
  return static_cast<std::size_t>(std::distance(std::filesystem::begin(entries), std::filesystem::end(entries)));
}

// OpenCV decodes some formats from a temporary file; a decoder that throws before closing it
// leaks a descriptor per bad file, and a batch run over an archive dies of "Too many open files"
// hours in (Radiance HDR did, found by the fuzz target). Every format OpenCV writes here, cut short
// and with bytes flipped, must come back as an image or a SampleError with no descriptor left open.
TEST(DecodeImage, MalformedFilesOfEveryFormatLeaveNoFileDescriptorOpen) {
  cv::Mat colour;
  cv::cvtColor(gradient(24, 40), colour, cv::COLOR_GRAY2BGR);
  cv::Mat real;
  colour.convertTo(real, CV_32FC3, 1.0 / 255);
  struct Format {
    const char* extension;
    const cv::Mat* image;
  };
  int formats = 0;
  for (const auto& [extension, image] :
       std::vector<Format>{{".png", &colour}, {".jpg", &colour}, {".tiff", &colour}, {".bmp", &colour},
                           {".webp", &colour}, {".ppm", &colour}, {".pam", &colour}, {".ras", &colour},
                           {".jp2", &colour}, {".pfm", &real}, {".hdr", &real}, {".exr", &real}}) {
    std::vector<unsigned char> bytes;
    try {
      if (!cv::imencode(extension, *image, bytes)) continue;
    } catch (const cv::Exception&) { // a codec this OpenCV build lacks or disables
      continue;
    }
    ++formats;
    const std::size_t before = open_file_descriptors();
    std::vector<std::vector<unsigned char>> malformed;
    for (std::size_t length = 1; length < bytes.size(); length += std::max<std::size_t>(1, bytes.size() / 64))
      malformed.emplace_back(bytes.begin(), bytes.begin() + static_cast<long>(length));
    for (std::size_t position = 0; position < bytes.size(); position += std::max<std::size_t>(1, bytes.size() / 64)) {
      malformed.push_back(bytes);
      malformed.back()[position] ^= 0xA5;
    }
    for (const auto& candidate : malformed) {
      try {
        (void)decode_image_bytes(candidate, std::string("malformed") + extension, any_radiograph);
      } catch (const SampleError&) {
      }
    }
    EXPECT_EQ(open_file_descriptors(), before) << extension << ": descriptors leaked by its decoder";
  }
  EXPECT_GE(formats, 8) << "PNG, JPEG, TIFF, BMP, WebP, the PNM family and Sun raster at least";
}

TEST(DecodeImage, RadianceHdrIsRefusedWithTheFormatToConvertTo) {
  cv::Mat real(8, 8, CV_32FC3, cv::Scalar(0.5, 0.25, 1.0));
  std::vector<unsigned char> bytes;
  ASSERT_TRUE(cv::imencode(".hdr", real, bytes));
  try {
    decode_image_bytes(bytes, "scan.hdr", any_radiograph);
    FAIL() << "Radiance HDR must not reach OpenCV's decoder";
  } catch (const SampleError& error) {
    EXPECT_NE(std::string(error.what()).find("Radiance HDR"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("TIFF"), std::string::npos) << error.what();
  }
}

// A crafted PNG declaring 32000 x 32000 pixels once took 1.2 GB to decode: the header alone
// refuses it now, and max_pixels decides where the limit is.
TEST(DecodeImage, AnImageDeclaringMorePixelsThanTheLimitIsRefusedFromItsHeader) {
  TempFolder scratch;
  std::string png = encode(".png", gradient(16, 16));
  const std::string huge_size("\x00\x00\x7D\x00\x00\x00\x7D\x00", 8); // 32000, 32000
  std::string crafted = png;
  crafted.replace(16, 8, huge_size); // IHDR width and height; the CRC no longer matches, which no decoder sees
  const auto file = scratch.write("crafted.png", crafted);
  try {
    decode_image_file(file, any_radiograph);
    FAIL() << "a PNG declaring a billion pixels must be refused";
  } catch (const SampleError& error) {
    EXPECT_NE(std::string(error.what()).find("header declares 32000 x 32000 pixels"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("max_pixels"), std::string::npos) << error.what();
  }
  // The limit is the reader's: 16 x 16 = 256 pixels pass at 256 and fail at 255.
  const auto small = scratch.write("small.png", png);
  EXPECT_EQ(decode_image_file(small, 256).size(), cv::Size(16, 16));
  EXPECT_THROW(decode_image_file(small, 255), SampleError);
}

} // namespace
} // namespace radpipe::readers
