// Encoded images as the readers decode them: the header check that refuses images declaring more
// than max_pixels, the truncated-JPEG check, and OpenCV's decoders behind them. Anything malformed
// must end as a SampleError, with no file descriptor left open: a decoder that leaks one per bad
// file kills a long batch run with "Too many open files", and the input that leaked is the one to
// keep, not whichever input meets the exhausted limit later.
#include "image_decode.hpp"
#include "image_header.hpp"

#include <radpipe/error.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <span>

namespace {

std::ptrdiff_t open_file_descriptors() {
  const auto entries = std::filesystem::directory_iterator("/proc/self/fd");
  return std::distance(std::filesystem::begin(entries), std::filesystem::end(entries));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const unsigned char> bytes(data, size);
  const std::ptrdiff_t descriptors_before = open_file_descriptors();
  (void)radpipe::readers::declared_image_size(bytes);
  (void)radpipe::readers::jpeg_is_complete(bytes);
  try {
    // 4 megapixels: every seed fits, and no input can make a decoder allocate gigabytes.
    const cv::Mat image = radpipe::readers::decode_image_bytes(bytes, "fuzz input", 4'000'000);
    if (image.empty() || image.total() > 4'000'000) __builtin_trap();
  } catch (const radpipe::SampleError&) {
  }
  if (open_file_descriptors() > descriptors_before) __builtin_trap();
  return 0;
}
