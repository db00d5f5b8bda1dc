// A plugin that claims a future ABI version: the host must refuse it before calling anything.
#include <radpipe/plugin.hpp>

namespace {
void register_stages(radpipe::PluginRegistrar&) { throw std::logic_error("must never be called"); }
} // namespace

extern "C" RADPIPE_EXPORT const radpipe_plugin_info* radpipe_plugin_entry(void) {
  static const radpipe_plugin_info info{sizeof(radpipe_plugin_info), 999u, RADPIPE_SDK_VERSION_STRING,
                                        RADPIPE_BUILD_FINGERPRINT, "abi_wrong_version", "1.0.0", "ABI from the future",
                                        [](radpipe::PluginRegistrar* registrar) { register_stages(*registrar); },
                                        nullptr, nullptr, nullptr, nullptr};
  return &info;
}
