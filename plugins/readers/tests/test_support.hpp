// Helpers for the readers' tests: parameters built as the host builds them, and scratch folders.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <radpipe/schema.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace radpipe::readers::testing {

// The schema's defaults, then `values`, each checked against its spec, as the host's validator
// would hand them to a factory. A value the schema rejects fails the test at the call site.
inline Params make_params(const Schema& schema, std::vector<std::pair<std::string, ParamValue>> values) {
  Params params;
  for (const auto& spec : schema.specs())
    if (spec.default_value) params.set(spec.name, *spec.default_value);
  for (auto& [name, value] : values) {
    const ParamSpec* spec = schema.find(name);
    if (spec == nullptr) throw std::invalid_argument("the schema has no parameter " + name);
    if (std::string problem = spec->check(value); !problem.empty())
      throw std::invalid_argument(name + ": " + problem);
    params.set(name, std::move(value));
  }
  for (const auto& spec : schema.specs())
    if (spec.required() && !params.has(spec.name))
      throw std::invalid_argument("required parameter missing: " + spec.name);
  return params;
}

// A folder under the system temp folder, removed with everything in it when the test ends.
class ScratchFolder {
 public:
  ScratchFolder() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    std::random_device entropy;
    path_ = std::filesystem::temp_directory_path() / ("radpipe-" + std::string(test->test_suite_name()) +
                                                      "-" + test->name() + "-" + std::to_string(entropy()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes `bytes` to `relative` (creating folders) and returns its full path.
  std::filesystem::path write(const std::filesystem::path& relative, const std::string& bytes) const {
    const auto file = path_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out << bytes;
    return file;
  }

 private:
  std::filesystem::path path_;
};

inline std::filesystem::path fracatlas_dir() {
  return std::filesystem::path(RADPIPE_SHARED_DIR) / "data" / "fracatlas";
}

} // namespace radpipe::readers::testing
