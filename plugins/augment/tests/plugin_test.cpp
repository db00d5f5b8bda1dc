// Loads the built plugin library the way the host does (C entry first, then registration), checks
// what it declares, and builds each stage through its factory.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <radpipe/plugin.hpp>
#include <string>
#include <vector>

namespace {

struct LibraryCloser {
  void operator()(void* handle) const { dlclose(handle); }
};

TEST(AugmentPlugin, EntryDescribesItAndRegistersRandomStages) {
  const auto file = std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-augment.so";
  const std::unique_ptr<void, LibraryCloser> library(dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL));
  ASSERT_TRUE(library) << dlerror();
  const auto entry =
      reinterpret_cast<radpipe_plugin_entry_function>(dlsym(library.get(), RADPIPE_PLUGIN_ENTRY_SYMBOL));
  ASSERT_NE(entry, nullptr) << file << " lacks " << RADPIPE_PLUGIN_ENTRY_SYMBOL;

  const radpipe_plugin_info* info = entry();
  EXPECT_EQ(info->struct_size, sizeof(radpipe_plugin_info));
  EXPECT_EQ(info->abi_version, RADPIPE_ABI_VERSION);
  EXPECT_STREQ(info->fingerprint, RADPIPE_BUILD_FINGERPRINT);
  EXPECT_STREQ(info->name, "augment");

  radpipe::PluginRegistrar registrar; // destroyed before the library: its factories live there
  info->register_stages(&registrar);
  std::vector<std::string> names;
  for (const auto& stage : registrar.stages()) {
    names.push_back(stage.name);
    EXPECT_EQ(stage.kind, radpipe::StageKind::Transform) << stage.name;
    EXPECT_FALSE(stage.summary.empty()) << stage.name;
    for (const auto& spec : stage.schema.specs()) EXPECT_FALSE(spec.doc.empty()) << stage.name << "." << spec.name;

    std::map<std::string, radpipe::ParamValue> values;
    if (stage.name == "random_crop") values["size"] = std::vector<std::int64_t>{64, 64};
    const std::unique_ptr<radpipe::Stage> built =
        stage.factory(radpipe::resolve_params(stage.schema, values), radpipe::StageContext{});
    const auto* transform = dynamic_cast<const radpipe::Transform*>(built.get());
    ASSERT_NE(transform, nullptr) << stage.name;
    EXPECT_TRUE(transform->is_random()) << stage.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"random_flip", "random_affine", "random_intensity", "random_crop"}));
}

} // namespace
