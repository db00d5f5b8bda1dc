// Helpers shared by the plugins' unit tests (target radpipe_test_support). Parameters for a stage
// built in a test come from the SDK's radpipe::resolve_params (radpipe/schema.hpp), as the host
// builds them; there is no test-only variant of it.
#pragma once

#include <filesystem>
#include <functional>
#include <radpipe/plugin.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace radpipe::testing {

// A fresh folder under the system temp folder, named after the running test, removed with
// everything in it when the object goes out of scope.
class TempFolder {
 public:
  TempFolder();
  ~TempFolder();
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes `bytes` to `relative` (creating folders) and returns its full path.
  std::filesystem::path write(const std::filesystem::path& relative, const std::string& bytes) const;

 private:
  std::filesystem::path path_;
};

using StageId = std::pair<StageKind, std::string>;

// Loads the built plugin library `file` the way the host does (C entry first, then registration)
// and checks, as GoogleTest expectations, that its entry has this build's struct size, ABI
// version and fingerprint and the name `expected_name`; that every stage it registers has a
// summary and every parameter a doc; and that it registers exactly `expected_stages`, in order.
// `each_stage`, when given, runs on every registered stage while the library is still loaded
// (its factories live there), for checks of a plugin's own.
void expect_plugin_library(const std::filesystem::path& file, std::string_view expected_name,
                           const std::vector<StageId>& expected_stages,
                           const std::function<void(const StageDescriptor&)>& each_stage = {});

// What a shell command printed and how it ended.
struct CommandResult {
  int exit_code = -1; // -1 when it did not exit normally
  std::string out;
  std::string err;
};

// Runs `command` through /bin/sh, capturing its stdout and stderr apart (the real radpipe binary
// in integration tests).
CommandResult run_command(const std::string& command);

// The whole content of `file`, empty when it cannot be read.
std::string read_text(const std::filesystem::path& file);

} // namespace radpipe::testing
