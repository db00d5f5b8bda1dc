// Decoding of image files into radpipe's pixel conventions, shared by every reader in this plugin.
#pragma once

#include <cstdint>
#include <filesystem>
#include <opencv2/core/mat.hpp>
#include <optional>
#include <radpipe/stages.hpp>
#include <span>
#include <string>

namespace radpipe::readers {

// Decodes `file` keeping its bit depth: the result has 1 or 3 channels (RGB order, alpha dropped)
// and depth CV_8U, CV_16U or CV_32F. Throws SampleError naming the file and the reason when it
// is missing, empty, truncated, not an image OpenCV can decode, or when its header declares more
// than `max_pixels` pixels (refused before any decoder allocates them). Thread-safe.
// `hint` narrows the decode: one luma channel (libjpeg's Y straight from a colour JPEG), a JPEG
// at 1/2, 1/4 or 1/8 scale when that still covers the hint's size, 8 bits when max_bits is 8.
cv::Mat decode_image_file(const std::filesystem::path& file, std::uint64_t max_pixels, const DecodeHint& hint = {});

// The same for encoded bytes already in memory; `source` names them in error messages.
cv::Mat decode_image_bytes(std::span<const unsigned char> bytes, const std::string& source, std::uint64_t max_pixels,
                           const DecodeHint& hint = {});

// Whether a JPEG stream reaches its end-of-image marker. libjpeg pads a truncated stream with a
// fake end marker and only warns, so OpenCV would hand back a partly grey image without this check.
bool jpeg_is_complete(std::span<const unsigned char> bytes);

} // namespace radpipe::readers
