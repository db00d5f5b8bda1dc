#include "image_header.hpp"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

namespace radpipe::readers {
namespace {

std::vector<unsigned char> encode(const std::string& extension, const cv::Mat& image) {
  std::vector<unsigned char> bytes;
  try {
    if (!cv::imencode(extension, image, bytes)) bytes.clear();
  } catch (const cv::Exception&) { // OpenJPEG refuses some images outright
    bytes.clear();
  }
  return bytes;
}

// Every format OpenCV writes here: the size read from the header is the size it was written at.
TEST(ImageHeader, DeclaredSizeMatchesWhatOpenCvWrote) {
  const cv::Mat gray(23, 37, CV_8UC1, cv::Scalar(90)), colour(23, 37, CV_8UC3, cv::Scalar(10, 20, 30));
  const cv::Mat real(23, 37, CV_32FC3, cv::Scalar(0.5, 0.25, 1.0));
  struct Format {
    const char* extension;
    const cv::Mat* image;
  };
  int checked = 0;
  for (const auto& [extension, image] : std::vector<Format>{{".png", &gray},   {".jpg", &gray},  {".tiff", &gray},
                                                            {".bmp", &colour}, {".webp", &colour}, {".pgm", &gray},
                                                            {".ppm", &colour}, {".pbm", &gray},  {".pam", &gray},
                                                            {".pfm", &real},   {".hdr", &real},  {".ras", &colour},
                                                            {".jp2", &gray}}) {
    SCOPED_TRACE(extension);
    const auto bytes = encode(extension, *image);
    if (bytes.empty()) continue; // a codec this OpenCV build lacks
    const auto size = declared_image_size(bytes);
    ASSERT_TRUE(size.has_value());
    EXPECT_EQ(size->width, 37u);
    EXPECT_EQ(size->height, 23u);
    ++checked;
  }
  EXPECT_GE(checked, 8) << "PNG, JPEG, TIFF, BMP, WebP and the PNM family at least";
}

// A header cut anywhere is read without going past its end (the sanitizer build checks the
// reads), and garbage is no image.
TEST(ImageHeader, CutHeadersAndGarbageAreUnknownNotOutOfBounds) {
  const cv::Mat gray(23, 37, CV_8UC1, cv::Scalar(90));
  for (const char* extension : {".png", ".jpg", ".tiff", ".bmp", ".webp", ".pgm", ".pam", ".jp2"}) {
    const auto bytes = encode(extension, gray);
    for (std::size_t length = 0; length < std::min<std::size_t>(bytes.size(), 512); ++length) {
      const std::vector<unsigned char> cut(bytes.begin(), bytes.begin() + static_cast<long>(length));
      if (const auto size = declared_image_size(cut)) {
        EXPECT_EQ(size->pixels(), 37u * 23u) << extension << " cut at " << length;
      }
    }
  }
  const std::string text = "these are not pixels\n";
  EXPECT_FALSE(declared_image_size({reinterpret_cast<const unsigned char*>(text.data()), text.size()}));
  EXPECT_EQ((DeclaredSize{1ull << 40, 1ull << 40}.pixels()), ~0ull) << "saturates instead of wrapping";
}

} // namespace
} // namespace radpipe::readers
