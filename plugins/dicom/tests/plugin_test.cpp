// Loads the built plugin library the way the host does and checks what it declares.
#include <gtest/gtest.h>

#include <filesystem>
#include <radpipe/testing.hpp>

namespace {

TEST(DicomPlugin, EntryDescribesItAndRegistersItsReader) {
  radpipe::testing::expect_plugin_library(std::filesystem::path(RADPIPE_PLUGIN_DIR) / "libradpipe-dicom.so",
                                          "dicom", {{radpipe::StageKind::Reader, "dicom"}});
}

} // namespace
