// Pipeline files, through the whole validator: TOML parsing, the host's tables, every stage's
// schema (the plugins of this build, loaded once), routes and chains. Whatever the text, the
// result is a configuration or diagnostics, never both and never neither, and formatting each
// diagnostic works. Paths resolve against pipelines/, so that the shipped pipelines, the seeds,
// name files that exist.
#include "config/diagnostics.hpp"
#include "config/pipeline_config.hpp"
#include "loader/plugin_host.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

radpipe::host::PluginHost& plugins() {
  static radpipe::host::PluginHost host;
  return host;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  plugins().load_folders({RADPIPE_PLUGIN_DIR});
  if (plugins().plugins().empty()) std::abort(); // a fuzzer without stages would only ever see "unknown stage"
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace radpipe::host;
  const ValidationResult result = parse_pipeline(std::string_view(reinterpret_cast<const char*>(data), size),
                                                 std::filesystem::path(RADPIPE_SOURCE_DIR) / "pipelines" / "fuzz.toml", plugins());
  if (result.config.has_value() == !result.diagnostics.empty()) __builtin_trap();
  for (const auto& diagnostic : result.diagnostics) (void)format(diagnostic);
  return 0;
}
