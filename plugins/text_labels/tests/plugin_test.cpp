// Loads the built plugin library the way the host does (C entry first, then registration) and
// checks what it declares.
#include <gtest/gtest.h>

#include <filesystem>
#include <radpipe/testing.hpp>

namespace {

TEST(TextLabelsPlugin, EntryDescribesItAndRegistersItsStage) {
  radpipe::testing::expect_plugin_library(
      std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-text_labels.so", "text_labels",
      {{radpipe::StageKind::Transform, "mask_text_labels"}});
}

} // namespace
