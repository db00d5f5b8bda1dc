// Running the real radpipe binary (or any command) from a test: exit code, stdout and stderr.
#pragma once

#include <filesystem>
#include <string>

namespace radpipe::testing {

struct CommandResult {
  int exit_code = -1; // -1 when the command did not exit normally
  std::string out;
  std::string err;
};

// Runs `command` through the shell, capturing stdout and stderr separately.
CommandResult run_command(const std::string& command);

std::string read_text(const std::filesystem::path& file);

} // namespace radpipe::testing
