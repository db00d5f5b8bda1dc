// The size an encoded image declares in its header, read without decoding it, so that an image
// declaring more pixels than a reader's max_pixels is refused before any decoder allocates them
// (a crafted 1 MB PNG declaring 32000 x 32000 pixels once took 1.2 GB to decode).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>

namespace radpipe::readers {

struct DeclaredSize {
  std::uint64_t width = 0;
  std::uint64_t height = 0;
  // Saturates instead of wrapping: a header may declare 2^32 x 2^32.
  std::uint64_t pixels() const {
    return height != 0 && width > std::numeric_limits<std::uint64_t>::max() / height ? std::numeric_limits<std::uint64_t>::max()
                                                                                      : width * height;
  }
};

// Width and height from the header of a PNG, JPEG, TIFF, BMP, WebP, PNM/PAM, PFM, Radiance HDR,
// Sun raster or JPEG 2000 (codestream or JP2) image: the formats OpenCV decodes. nullopt when the
// bytes are none of these, or the header is cut short. Never reads outside `bytes`.
std::optional<DeclaredSize> declared_image_size(std::span<const unsigned char> bytes);

} // namespace radpipe::readers
