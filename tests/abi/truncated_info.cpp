// A plugin whose info struct is shorter than the ABI's (an older, incompatible layout).
#include <radpipe/plugin.hpp>

extern "C" RADPIPE_EXPORT const radpipe_plugin_info* radpipe_plugin_entry(void) {
  static const radpipe_plugin_info info{4, RADPIPE_ABI_VERSION, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  return &info;
}
