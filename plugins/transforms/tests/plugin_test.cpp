// Loads the built plugin library the way the host does (C entry first, then registration) and
// checks what it declares.
#include <gtest/gtest.h>

#include <filesystem>
#include <radpipe/testing.hpp>

namespace {

using radpipe::StageKind;

TEST(TransformsPlugin, EntryDescribesItAndRegistersItsStages) {
  radpipe::testing::expect_plugin_library(
      std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-transforms.so", "transforms",
      {{StageKind::Transform, "grayscale"},
       {StageKind::Transform, "rgb"},
       {StageKind::Transform, "resize"},
       {StageKind::Transform, "center_crop"},
       {StageKind::Transform, "normalize"},
       {StageKind::Transform, "min_max"},
       {StageKind::Transform, "percentile_clip"},
       {StageKind::Transform, "autocontrast"},
       {StageKind::Transform, "clahe"},
       {StageKind::Transform, "equalize_histogram"},
       {StageKind::Transform, "invert"},
       {StageKind::Transform, "standardize"}});
}

} // namespace
