#include "image_header.hpp"

#include <cctype>
#include <cstring>
#include <string_view>

namespace radpipe::readers {
namespace {

using Bytes = std::span<const unsigned char>;

bool starts_with(Bytes bytes, std::string_view prefix, std::size_t at = 0) {
  return bytes.size() >= at + prefix.size() && std::memcmp(bytes.data() + at, prefix.data(), prefix.size()) == 0;
}

// Fixed-width integers at `at`; nullopt past the end.
std::optional<std::uint64_t> big_endian(Bytes bytes, std::size_t at, std::size_t width) {
  if (at > bytes.size() || bytes.size() - at < width) return std::nullopt;
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < width; ++i) value = (value << 8) | bytes[at + i];
  return value;
}

std::optional<std::uint64_t> little_endian(Bytes bytes, std::size_t at, std::size_t width) {
  if (at > bytes.size() || bytes.size() - at < width) return std::nullopt;
  std::uint64_t value = 0;
  for (std::size_t i = width; i-- > 0;) value = (value << 8) | bytes[at + i];
  return value;
}

std::optional<DeclaredSize> sized(std::optional<std::uint64_t> width, std::optional<std::uint64_t> height) {
  if (!width || !height) return std::nullopt;
  return DeclaredSize{*width, *height};
}

std::optional<DeclaredSize> png_size(Bytes bytes) {
  // Signature, then the IHDR chunk: length, "IHDR", width, height (big-endian).
  if (!starts_with(bytes, "IHDR", 12)) return std::nullopt;
  return sized(big_endian(bytes, 16, 4), big_endian(bytes, 20, 4));
}

bool is_start_of_frame(unsigned char marker) {
  // SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC).
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

std::optional<DeclaredSize> jpeg_size(Bytes bytes) {
  std::size_t position = 2;
  while (position + 3 < bytes.size()) {
    if (bytes[position] != 0xFF) return std::nullopt;
    const unsigned char marker = bytes[position + 1];
    if (marker == 0xFF) { // fill byte
      ++position;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { // standalone markers
      position += 2;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt; // end of image, start of scan: no frame header seen
    const auto length = big_endian(bytes, position + 2, 2);
    if (!length || *length < 2) return std::nullopt;
    // Frame header: length, precision, height, width. A height of 0 is defined later (DNL), so
    // the size is unknown here.
    if (is_start_of_frame(marker)) return sized(big_endian(bytes, position + 7, 2), big_endian(bytes, position + 5, 2));
    position += 2 + *length;
  }
  return std::nullopt;
}

std::optional<DeclaredSize> bmp_size(Bytes bytes) {
  const auto header = little_endian(bytes, 14, 4);
  if (!header) return std::nullopt;
  if (*header == 12) return sized(little_endian(bytes, 18, 2), little_endian(bytes, 20, 2)); // OS/2 BITMAPCOREHEADER
  const auto width = little_endian(bytes, 18, 4), height = little_endian(bytes, 22, 4);
  if (!width || !height) return std::nullopt;
  // Signed 32-bit fields; a negative height means top-down rows.
  const auto magnitude = [](std::uint64_t value) {
    const auto signed_value = static_cast<std::int32_t>(static_cast<std::uint32_t>(value));
    return static_cast<std::uint64_t>(signed_value < 0 ? -static_cast<std::int64_t>(signed_value) : signed_value);
  };
  return DeclaredSize{magnitude(*width), magnitude(*height)};
}

std::optional<DeclaredSize> tiff_size(Bytes bytes) {
  const bool little = bytes[0] == 'I';
  const auto read = [&](std::size_t at, std::size_t width) {
    return little ? little_endian(bytes, at, width) : big_endian(bytes, at, width);
  };
  const auto directory = read(4, 4);
  if (!directory) return std::nullopt;
  const auto entries = read(static_cast<std::size_t>(*directory), 2);
  if (!entries) return std::nullopt;
  std::optional<std::uint64_t> width, height;
  for (std::uint64_t i = 0; i < *entries && (!width || !height); ++i) {
    const std::uint64_t entry = *directory + 2 + 12 * i;
    if (entry + 12 > bytes.size()) return std::nullopt;
    const auto at = static_cast<std::size_t>(entry);
    const auto tag = read(at, 2), type = read(at + 2, 2);
    std::optional<std::uint64_t> value;
    if (type == 3u) value = read(at + 8, 2);      // SHORT
    else if (type == 4u) value = read(at + 8, 4); // LONG
    if (tag == 256u) width = value;
    if (tag == 257u) height = value;
  }
  return sized(width, height);
}

std::optional<DeclaredSize> webp_size(Bytes bytes) {
  if (starts_with(bytes, "VP8X", 12)) {
    const auto width = little_endian(bytes, 24, 3), height = little_endian(bytes, 27, 3);
    if (!width || !height) return std::nullopt;
    return DeclaredSize{*width + 1, *height + 1};
  }
  if (starts_with(bytes, "VP8L", 12)) {
    const auto bits = little_endian(bytes, 21, 4);
    if (!bits) return std::nullopt;
    return DeclaredSize{(*bits & 0x3FFF) + 1, ((*bits >> 14) & 0x3FFF) + 1};
  }
  if (starts_with(bytes, "VP8 ", 12)) {
    const auto width = little_endian(bytes, 26, 2), height = little_endian(bytes, 28, 2);
    if (!width || !height) return std::nullopt;
    return DeclaredSize{*width & 0x3FFF, *height & 0x3FFF};
  }
  return std::nullopt;
}

// Text headers (PNM, PAM, PFM, Radiance HDR): whitespace-separated tokens, '#' comments to the end
// of the line.
class HeaderTokens {
public:
  HeaderTokens(Bytes bytes, std::size_t start) : bytes_(bytes), position_(start) {}

  std::optional<std::string_view> next() {
    while (position_ < bytes_.size()) {
      const unsigned char character = bytes_[position_];
      if (character == '#') {
        while (position_ < bytes_.size() && bytes_[position_] != '\n') ++position_;
      } else if (std::isspace(character)) {
        ++position_;
      } else {
        break;
      }
    }
    const std::size_t start = position_;
    while (position_ < bytes_.size() && !std::isspace(bytes_[position_]) && bytes_[position_] != '#') ++position_;
    // A token that runs into the end of the bytes may be cut short ("2" of "23"): unknown.
    if (start == position_ || position_ == bytes_.size()) return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(bytes_.data()) + start, position_ - start);
  }

  std::optional<std::uint64_t> number() {
    const auto token = next();
    if (!token || token->empty() || token->size() > 12) return std::nullopt;
    std::uint64_t value = 0;
    for (char digit : *token) {
      if (digit < '0' || digit > '9') return std::nullopt;
      value = value * 10 + static_cast<std::uint64_t>(digit - '0');
    }
    return value;
  }

private:
  Bytes bytes_;
  std::size_t position_;
};

std::optional<DeclaredSize> pnm_size(Bytes bytes) {
  HeaderTokens tokens(bytes.first(std::min<std::size_t>(bytes.size(), 4096)), 2);
  if (bytes[1] != '7') {
    const auto width = tokens.number();
    return sized(width, tokens.number());
  }
  std::optional<std::uint64_t> width, height; // PAM: "WIDTH w" and "HEIGHT h" lines up to ENDHDR
  while (auto token = tokens.next()) {
    if (*token == "ENDHDR") break;
    if (*token == "WIDTH") width = tokens.number();
    if (*token == "HEIGHT") height = tokens.number();
  }
  return sized(width, height);
}

std::optional<DeclaredSize> radiance_size(Bytes bytes) {
  // Header lines up to an empty line, then the resolution line: "-Y h +X w" (or another order).
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), std::min<std::size_t>(bytes.size(), 8192));
  const auto end = text.find("\n\n");
  if (end == std::string_view::npos) return std::nullopt;
  HeaderTokens tokens(bytes.first(text.size()), end + 2);
  std::optional<std::uint64_t> width, height;
  for (int axis = 0; axis < 2; ++axis) {
    const auto name = tokens.next();
    const auto value = tokens.number();
    if (!name || name->size() != 2) return std::nullopt;
    ((*name)[1] == 'Y' ? height : width) = value;
  }
  return sized(width, height);
}

std::optional<DeclaredSize> jpeg2000_codestream_size(Bytes bytes, std::size_t at) {
  // SOC, then SIZ: marker, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz.
  if (!starts_with(bytes, "\xFF\x4F\xFF\x51", at)) return std::nullopt;
  const auto x = big_endian(bytes, at + 8, 4), y = big_endian(bytes, at + 12, 4);
  const auto x_offset = big_endian(bytes, at + 16, 4), y_offset = big_endian(bytes, at + 20, 4);
  if (!x || !y || !x_offset || !y_offset || *x_offset > *x || *y_offset > *y) return std::nullopt;
  return DeclaredSize{*x - *x_offset, *y - *y_offset};
}

std::optional<DeclaredSize> jp2_size(Bytes bytes) {
  // Boxes: length, type; the image header box "ihdr" (inside "jp2h") holds height, then width.
  std::size_t position = 0;
  for (int boxes = 0; boxes < 64 && position + 8 <= bytes.size(); ++boxes) {
    auto length = big_endian(bytes, position, 4);
    if (!length) return std::nullopt;
    if (starts_with(bytes, "jp2h", position + 4)) {
      position += 8; // a super box: descend into it
      continue;
    }
    if (starts_with(bytes, "ihdr", position + 4)) return sized(big_endian(bytes, position + 12, 4), big_endian(bytes, position + 8, 4));
    if (starts_with(bytes, "jp2c", position + 4)) return jpeg2000_codestream_size(bytes, position + 8);
    if (*length < 8) return std::nullopt; // 0 (to the end) and 1 (64-bit) end the search too
    position += static_cast<std::size_t>(*length);
  }
  return std::nullopt;
}

} // namespace

std::optional<DeclaredSize> declared_image_size(Bytes bytes) {
  if (bytes.size() < 4) return std::nullopt;
  if (starts_with(bytes, "\x89PNG\r\n\x1A\n")) return png_size(bytes);
  if (bytes[0] == 0xFF && bytes[1] == 0xD8) return jpeg_size(bytes);
  if (starts_with(bytes, "II*") || starts_with(bytes, std::string_view("MM\0*", 4))) return tiff_size(bytes);
  if (starts_with(bytes, "BM")) return bmp_size(bytes);
  if (starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8)) return webp_size(bytes);
  if (bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7') return pnm_size(bytes);
  if (starts_with(bytes, "PF") || starts_with(bytes, "Pf")) {
    HeaderTokens tokens(bytes.first(std::min<std::size_t>(bytes.size(), 256)), 2);
    const auto width = tokens.number();
    return sized(width, tokens.number());
  }
  if (starts_with(bytes, "#?")) return radiance_size(bytes);
  if (starts_with(bytes, "\x59\xA6\x6A\x95")) return sized(big_endian(bytes, 4, 4), big_endian(bytes, 8, 4));
  if (starts_with(bytes, "\xFF\x4F\xFF\x51")) return jpeg2000_codestream_size(bytes, 0);
  if (starts_with(bytes, std::string_view("\0\0\0\x0CjP  ", 8))) return jp2_size(bytes);
  return std::nullopt;
}

} // namespace radpipe::readers
