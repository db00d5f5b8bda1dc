// A shared library that exports functions but no radpipe entry symbol, and whose constructor
// leaves a marker file (in $RADPIPE_TEST_MARKER_DIR) when it runs: the host must reject it from
// its symbol table alone, without loading it, so the marker must never appear.
#include <cstdlib>
#include <fstream>
#include <string>

extern "C" __attribute__((visibility("default"))) int some_other_function() {
  return 42;
}

__attribute__((constructor)) static void leave_marker() {
  if (const char* folder = std::getenv("RADPIPE_TEST_MARKER_DIR"))
    std::ofstream(std::string(folder) + "/missing_entry.ran") << "ran\n";
}
