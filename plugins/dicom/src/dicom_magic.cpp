#include "dicom_magic.hpp"

#include <array>
#include <fstream>

namespace radpipe::dicom {

bool has_dicom_magic(const std::filesystem::path& file) {
  constexpr std::streamoff preamble_size = 128;
  std::ifstream in(file, std::ios::binary);
  std::array<char, 4> marker{};
  if (!in.seekg(preamble_size) || !in.read(marker.data(), marker.size())) return false;
  return marker == std::array<char, 4>{'D', 'I', 'C', 'M'};
}

} // namespace radpipe::dicom
