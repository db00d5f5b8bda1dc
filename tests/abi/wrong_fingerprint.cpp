// A plugin built, as far as its fingerprint says, against other LibTorch and OpenCV versions.
#include <radpipe/plugin.hpp>

namespace {
void register_stages(radpipe::PluginRegistrar&) { throw std::logic_error("must never be called"); }
} // namespace

extern "C" RADPIPE_EXPORT const radpipe_plugin_info* radpipe_plugin_entry(void) {
  static const radpipe_plugin_info info{sizeof(radpipe_plugin_info), RADPIPE_ABI_VERSION, RADPIPE_SDK_VERSION_STRING,
                                        "compiler=" RADPIPE_COMPILER_ID ";cxx11_abi=" RADPIPE_CXX11_ABI ";torch=0.4;opencv=3.2",
                                        "abi_wrong_fingerprint", "1.0.0", "Built with other libraries",
                                        [](radpipe::PluginRegistrar* registrar) { register_stages(*registrar); },
                                        nullptr, nullptr, nullptr, nullptr};
  return &info;
}
