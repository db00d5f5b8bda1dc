// A valid plugin whose constructor leaves a marker file (in $RADPIPE_TEST_MARKER_DIR) when it runs:
// the control case proving that the marker of missing_entry.cpp would appear if it were loaded.
#include <cstdlib>
#include <fstream>
#include <radpipe/plugin.hpp>

__attribute__((constructor)) static void leave_marker() {
  if (const char* folder = std::getenv("RADPIPE_TEST_MARKER_DIR"))
    std::ofstream(std::string(folder) + "/marker_plugin.ran") << "ran\n";
}

namespace {
void register_stages(radpipe::PluginRegistrar&) {}
} // namespace

RADPIPE_PLUGIN("abi_marker", "1.0.0", "Leaves a marker file when loaded", register_stages)
