// Encoded images as the readers decode them: the header check that refuses images declaring more
// than max_pixels, the truncated-JPEG check, and OpenCV's decoders behind them. Anything malformed
// must end as a SampleError.
#include "image_decode.hpp"
#include "image_header.hpp"

#include <radpipe/error.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const unsigned char> bytes(data, size);
  (void)radpipe::readers::declared_image_size(bytes);
  (void)radpipe::readers::jpeg_is_complete(bytes);
  try {
    // 4 megapixels: every seed fits, and no input can make a decoder allocate gigabytes.
    const cv::Mat image = radpipe::readers::decode_image_bytes(bytes, "fuzz input", 4'000'000);
    if (image.empty() || image.total() > 4'000'000) __builtin_trap();
  } catch (const radpipe::SampleError&) {
  }
  return 0;
}
