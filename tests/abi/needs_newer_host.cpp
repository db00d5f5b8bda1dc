// A plugin that declares it needs a radpipe release newer than any there is.
#include <radpipe/plugin.hpp>

namespace {
void register_stages(radpipe::PluginRegistrar&) {
  throw std::logic_error("must never be called");
}
} // namespace

RADPIPE_PLUGIN_DEFINE(register_stages, .name = "abi_needs_newer_host", .version = "3.0.0",
                      .description = "Needs radpipe 99", .license = "MIT", .vendor = "radpipe tests",
                      .url = "https://example.org/radpipe-tests", .min_host_version = "99.0.0")
