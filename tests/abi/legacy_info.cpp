// A plugin of the current ABI whose info struct has the first ABI-2 layout, without the fields
// appended since (license, vendor, url, min_host_version): what a plugin built against an older
// SDK release of the same ABI returns. The host must load it and read the missing fields as empty.
#include <cstdint>
#include <radpipe/plugin.hpp>

namespace {
// The layout of radpipe_plugin_info before SDK 0.2.0 appended its metadata fields.
struct legacy_plugin_info {
  std::uint32_t struct_size;
  std::uint32_t abi_version;
  const char* sdk_version;
  const char* fingerprint;
  const char* name;
  const char* version;
  const char* description;
  void (*register_stages)(radpipe::PluginRegistrar* registrar);
};
static_assert(sizeof(legacy_plugin_info) == RADPIPE_PLUGIN_INFO_MINIMUM_SIZE,
              "the legacy layout is the minimum an ABI-2 host accepts");

class Identity : public radpipe::Transform {
 public:
  Identity(const radpipe::Params&, const radpipe::StageContext&) {}
  void apply(radpipe::Sample&, const radpipe::TransformContext&) const override {}
};

void register_stages(radpipe::PluginRegistrar* registrar) {
  registrar->add<Identity>("legacy_identity", "Leaves images unchanged", {});
}
} // namespace

extern "C" RADPIPE_EXPORT const legacy_plugin_info* radpipe_plugin_entry(void) {
  static const legacy_plugin_info info{sizeof(legacy_plugin_info),
                                       RADPIPE_ABI_VERSION,
                                       "0.1.9",
                                       RADPIPE_BUILD_FINGERPRINT,
                                       "abi_legacy_info",
                                       "0.9.0",
                                       "Info struct of an older SDK release",
                                       &register_stages};
  return &info;
}
