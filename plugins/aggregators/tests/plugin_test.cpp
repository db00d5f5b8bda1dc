// Loads the built plugin library the way the host does (C entry first, then registration) and
// checks what it declares.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <radpipe/plugin.hpp>
#include <string>
#include <utility>
#include <vector>

namespace {

struct LibraryCloser {
  void operator()(void* handle) const { dlclose(handle); }
};

TEST(AggregatorsPlugin, EntryDescribesItAndRegistersItsStages) {
  const auto file = std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-aggregators.so";
  const std::unique_ptr<void, LibraryCloser> library(dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL));
  ASSERT_TRUE(library) << dlerror();
  const auto entry =
      reinterpret_cast<radpipe_plugin_entry_function>(dlsym(library.get(), RADPIPE_PLUGIN_ENTRY_SYMBOL));
  ASSERT_NE(entry, nullptr) << file << " lacks " << RADPIPE_PLUGIN_ENTRY_SYMBOL;

  const radpipe_plugin_info* info = entry();
  EXPECT_EQ(info->struct_size, sizeof(radpipe_plugin_info));
  EXPECT_EQ(info->abi_version, RADPIPE_ABI_VERSION);
  EXPECT_STREQ(info->fingerprint, RADPIPE_BUILD_FINGERPRINT);
  EXPECT_STREQ(info->name, "aggregators");

  radpipe::PluginRegistrar registrar; // destroyed before the library: its factories live there
  info->register_stages(&registrar);
  std::vector<std::pair<radpipe::StageKind, std::string>> registered;
  for (const auto& stage : registrar.stages()) {
    registered.emplace_back(stage.kind, stage.name);
    EXPECT_FALSE(stage.summary.empty()) << stage.name;
    for (const auto& spec : stage.schema.specs())
      EXPECT_FALSE(spec.doc.empty()) << stage.name << "." << spec.name;
  }
  const std::vector<std::pair<radpipe::StageKind, std::string>> expected{
      {radpipe::StageKind::Aggregator, "mean"},
      {radpipe::StageKind::Aggregator, "max"},
      {radpipe::StageKind::Aggregator, "top_k_mean"},
      {radpipe::StageKind::Aggregator, "majority"},
      {radpipe::StageKind::Aggregator, "any_positive"}};
  EXPECT_EQ(registered, expected);
}

} // namespace
