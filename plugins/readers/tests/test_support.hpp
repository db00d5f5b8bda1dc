// Helpers for the readers' tests. Scratch folders (radpipe::testing::TempFolder) come from the
// shared radpipe_test_support library, parameters from radpipe::resolve_params.
#pragma once

#include <filesystem>
#include <radpipe/stages.hpp>
#include <vector>

namespace radpipe::readers::testing {

// Every entry a reader lists, in order.
inline std::vector<SampleInfo> enumerate(Reader& reader) {
  std::vector<SampleInfo> infos;
  while (auto info = reader.next()) infos.push_back(std::move(*info));
  return infos;
}

inline std::filesystem::path fracatlas_dir() {
  return std::filesystem::path(RADPIPE_SHARED_DIR) / "data" / "fracatlas";
}

} // namespace radpipe::readers::testing
