// The plugins of this build, loaded once per test binary as the host loads them, for the host
// tests that parse pipelines and build chains from them.
#pragma once

#include <memory>

#include "loader/plugin_host.hpp"

namespace radpipe::host::test_support {

inline const PluginHost& real_plugins() {
  static const std::unique_ptr<PluginHost> host = [] {
    auto loaded = std::make_unique<PluginHost>();
    loaded->load_folders({RADPIPE_PLUGIN_DIR});
    return loaded;
  }();
  return *host;
}

} // namespace radpipe::host::test_support
