#include "radpipe/testing.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <radpipe/fingerprint.hpp>
#include <random>
#include <sstream>
#include <system_error>

namespace radpipe::testing {

TempFolder::TempFolder() {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string owner =
      test != nullptr ? std::string(test->test_suite_name()) + "-" + test->name() : std::string("no-test");
  std::random_device entropy;
  path_ = std::filesystem::temp_directory_path() / ("radpipe-" + owner + "-" + std::to_string(entropy()));
  std::filesystem::create_directories(path_);
}

TempFolder::~TempFolder() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempFolder::write(const std::filesystem::path& relative,
                                        const std::string& bytes) const {
  const auto file = path_ / relative;
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out << bytes;
  return file;
}

namespace {

struct LibraryCloser {
  void operator()(void* handle) const { dlclose(handle); }
};

} // namespace

void expect_plugin_library(const std::filesystem::path& file, std::string_view expected_name,
                           const std::vector<StageId>& expected_stages,
                           const std::function<void(const StageDescriptor&)>& each_stage) {
  const std::unique_ptr<void, LibraryCloser> library(dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL));
  ASSERT_TRUE(library) << dlerror();
  const auto entry =
      reinterpret_cast<radpipe_plugin_entry_function>(dlsym(library.get(), RADPIPE_PLUGIN_ENTRY_SYMBOL));
  ASSERT_NE(entry, nullptr) << file << " lacks " << RADPIPE_PLUGIN_ENTRY_SYMBOL;

  const radpipe_plugin_info* info = entry();
  ASSERT_NE(info, nullptr) << file;
  EXPECT_EQ(info->struct_size, sizeof(radpipe_plugin_info));
  EXPECT_EQ(info->abi_version, RADPIPE_ABI_VERSION);
  EXPECT_STREQ(info->fingerprint, RADPIPE_BUILD_FINGERPRINT);
  EXPECT_STREQ(info->name, std::string(expected_name).c_str());

  PluginRegistrar registrar; // destroyed before the library: its factories live there
  info->register_stages(&registrar);
  std::vector<StageId> registered;
  for (const auto& stage : registrar.stages()) {
    registered.emplace_back(stage.kind, stage.name);
    EXPECT_FALSE(stage.summary.empty()) << stage.name;
    for (const auto& spec : stage.schema.specs())
      EXPECT_FALSE(spec.doc.empty()) << stage.name << "." << spec.name;
    if (each_stage) each_stage(stage);
  }
  EXPECT_EQ(registered, expected_stages);
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream stream(file, std::ios::binary);
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

CommandResult run_command(const std::string& command) {
  std::random_device entropy;
  const auto err = std::filesystem::temp_directory_path() /
                   ("radpipe-stderr-" + std::to_string(::getpid()) + "-" + std::to_string(entropy()));
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>" + err.string()).c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t count;
  while ((count = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, count);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = read_text(err);
  std::error_code ignored;
  std::filesystem::remove(err, ignored);
  return result;
}

} // namespace radpipe::testing
