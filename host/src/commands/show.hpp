// `radpipe show FILE`: what a reader makes of one file (size, depth, identifiers, window, the
// intensity range of the decoded pixels), and optionally the decoded image as an 8-bit PNG.
#pragma once

#include <filesystem>

#include "commands/commands.hpp"

namespace radpipe::host {

struct ShowOptions {
  std::filesystem::path file;
  std::filesystem::path png; // empty: no PNG
  bool json = false;
};

// Reads FILE with the `dicom` reader when it is DICOM (DICM marker or .dcm/.dicom), else with
// `image_files`. A file that cannot be read gives one error line and exit_invalid.
int command_show(const GlobalOptions& global, const ShowOptions& options);

} // namespace radpipe::host
