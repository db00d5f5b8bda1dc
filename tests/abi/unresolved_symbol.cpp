// A plugin that calls a function no library defines: loaded lazily, it would die at the first
// call with `symbol lookup error`; the host must refuse it at load time, naming the symbol.
#include <radpipe/plugin.hpp>

extern "C" void radpipe_test_function_nobody_defines();

namespace {
void register_stages(radpipe::PluginRegistrar&) {
  radpipe_test_function_nobody_defines();
}
} // namespace

RADPIPE_PLUGIN("abi_unresolved", "1.0.0", "Needs a symbol nothing provides", register_stages)
