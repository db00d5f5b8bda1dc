// Helpers for the readers' tests. Scratch folders (radpipe::testing::TempFolder) come from the
// shared radpipe_test_support library, parameters from radpipe::resolve_params.
#pragma once

#include <filesystem>

namespace radpipe::readers::testing {

inline std::filesystem::path fracatlas_dir() {
  return std::filesystem::path(RADPIPE_SHARED_DIR) / "data" / "fracatlas";
}

} // namespace radpipe::readers::testing
