// A plugin whose registration itself fails.
#include <radpipe/plugin.hpp>

#include <stdexcept>

namespace {
void register_stages(radpipe::PluginRegistrar&) { throw std::runtime_error("cannot find my model zoo"); }
} // namespace

RADPIPE_PLUGIN("abi_throwing_register", "1.0.0", "Registration throws", register_stages)
