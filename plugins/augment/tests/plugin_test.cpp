// Loads the built plugin library the way the host does (C entry first, then registration), checks
// what it declares, and builds each stage through its factory.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <radpipe/testing.hpp>
#include <string>
#include <vector>

namespace {

using radpipe::StageKind;

TEST(AugmentPlugin, EntryDescribesItAndRegistersRandomStages) {
  radpipe::testing::expect_plugin_library(
      std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-augment.so", "augment",
      {{StageKind::Transform, "random_flip"},
       {StageKind::Transform, "random_affine"},
       {StageKind::Transform, "random_intensity"},
       {StageKind::Transform, "random_crop"}},
      [](const radpipe::StageDescriptor& stage) {
        std::map<std::string, radpipe::ParamValue> values;
        if (stage.name == "random_crop") values["size"] = std::vector<std::int64_t>{64, 64};
        const std::unique_ptr<radpipe::Stage> built =
            stage.factory(radpipe::resolve_params(stage.schema, values), radpipe::StageContext{});
        const auto* transform = dynamic_cast<const radpipe::Transform*>(built.get());
        ASSERT_NE(transform, nullptr) << stage.name;
        EXPECT_TRUE(transform->is_random()) << stage.name;
      });
}

} // namespace
