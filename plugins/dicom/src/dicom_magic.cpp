#include "dicom_magic.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>

namespace radpipe::dicom {

bool has_dicom_magic(const std::filesystem::path& file) {
  constexpr std::streamoff preamble_size = 128;
  std::ifstream in(file, std::ios::binary);
  std::array<char, 4> marker{};
  if (!in.seekg(preamble_size) || !in.read(marker.data(), marker.size())) return false;
  return marker == std::array<char, 4>{'D', 'I', 'C', 'M'};
}

bool is_dicom_file(const std::filesystem::path& file) {
  std::string extension = file.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return std::tolower(c); });
  return extension == ".dcm" || extension == ".dicom" || has_dicom_magic(file);
}

} // namespace radpipe::dicom
