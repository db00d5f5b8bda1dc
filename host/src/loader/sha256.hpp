// SHA-256 (FIPS 180-4) of files, for `radpipe plugins --verify` and the plugin provenance that
// run records carry. Small and dependency-free: the host links no crypto library.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace radpipe::host {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  // The digest as 64 lower-case hex digits; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// The SHA-256 of a file's contents as 64 lower-case hex digits; throws std::runtime_error
// naming the file when it cannot be read.
std::string sha256_of_file(const std::filesystem::path& file);

} // namespace radpipe::host
