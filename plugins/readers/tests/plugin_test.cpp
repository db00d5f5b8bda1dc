// Loads the built plugin library the way the host does (C entry first, then registration) and
// checks what it declares.
#include <gtest/gtest.h>

#include <filesystem>
#include <radpipe/testing.hpp>

namespace {

using radpipe::StageKind;

TEST(ReadersPlugin, EntryDescribesItAndRegistersItsStages) {
  radpipe::testing::expect_plugin_library(std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-readers.so",
                                          "readers",
                                          {{StageKind::Reader, "image_files"},
                                           {StageKind::Reader, "csv"},
                                           {StageKind::Reader, "mura"},
                                           {StageKind::Reader, "class_folders"},
                                           {StageKind::Reader, "study_folder"}});
}

} // namespace
