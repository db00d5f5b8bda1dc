// The plugin library: its one entry symbol, with the metadata `radpipe plugins` shows, and the
// registration of its stages. The host calls register_stages only after it has checked the ABI
// version and build fingerprint, so nothing here runs in a host that cannot use it.
#include <radpipe/plugin.hpp>

#include "invert_intensity.hpp"

namespace {

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<example::InvertIntensity>("invert_intensity",
                                          "Inverts intensities (MONOCHROME1 to MONOCHROME2)",
                                          example::InvertIntensity::schema());
}

} // namespace

RADPIPE_PLUGIN_DEFINE(register_stages, .name = "invert_intensity", .version = "1.0.0",
                      .description = "Template plugin: intensity inversion", .license = "Apache-2.0",
                      .vendor = "radpipe plugin template",
                      .url = "https://example.org/radpipe-plugin-template",
                      .min_host_version = "0.2.0") // the oldest radpipe it runs in
