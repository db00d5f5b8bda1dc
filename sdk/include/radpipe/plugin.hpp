// radpipe SDK: how a plugin library introduces itself.
//
// A plugin defines exactly one entry symbol with RADPIPE_PLUGIN. The host reads the plain-C info
// struct it returns, checks struct size, ABI version and build fingerprint, and only then calls
// `register_stages`, the first C++ call into the plugin. Registration happens there, never in
// static initialisers, and every exception it or a factory throws is caught by the host.
//
//   static void register_stages(radpipe::PluginRegistrar& registrar) {
//     registrar.add<MeanAggregator>("mean", "Mean of the image probabilities", MeanAggregator::schema());
//   }
//   RADPIPE_PLUGIN("aggregators", "1.0.0", "Study-level aggregation", register_stages)
#pragma once

#include <radpipe/error.hpp>
#include <radpipe/fingerprint.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <radpipe/version.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace radpipe {

using StageFactory = std::function<std::unique_ptr<Stage>(const Params&, const StageContext&)>;

// How a reader takes single files handed to the host (`radpipe show FILE`): which files it can
// read, judged cheaply (extension, magic bytes), and the parameter that names the file. The host
// picks a reader this way instead of knowing reader stages by name.
struct FileSupport {
  std::function<bool(const std::filesystem::path&)> can_read;
  std::string path_key;
};

struct StageDescriptor {
  StageKind kind = StageKind::Transform;
  std::string name;    // unique per kind across all loaded plugins
  std::string summary; // one line for `radpipe plugins` and `radpipe inspect`
  Schema schema;
  StageFactory factory;
  std::optional<FileSupport> files; // readers only: the files they read on their own
};

class PluginRegistrar {
public:
  // Registers StageT, constructed as StageT(const Params&, const StageContext&). Its kind comes
  // from the interface it implements.
  // Returns the new descriptor, for what only some stages declare (a reader's `files`); the
  // reference is valid until the next add.
  template <class StageT>
  StageDescriptor& add(std::string name, std::string summary, Schema schema) {
    static_assert(std::is_base_of_v<Stage, StageT>, "a stage derives from a radpipe stage interface");
    return add(StageDescriptor{StageT::kind, std::move(name), std::move(summary), std::move(schema),
                               [](const Params& params, const StageContext& context) -> std::unique_ptr<Stage> {
                                 return std::make_unique<StageT>(params, context);
                               },
                               std::nullopt});
  }
  StageDescriptor& add(StageDescriptor descriptor) {
    stages_.push_back(std::move(descriptor));
    return stages_.back();
  }

  const std::vector<StageDescriptor>& stages() const { return stages_; }

private:
  std::vector<StageDescriptor> stages_;
};

} // namespace radpipe

extern "C" {

// Plain data only, so that the host can read it before trusting the plugin's C++ ABI. Fields
// are only ever appended; `struct_size` tells the host which ones this plugin has.
struct radpipe_plugin_info {
  std::uint32_t struct_size;
  std::uint32_t abi_version;
  const char* sdk_version;
  const char* fingerprint; // RADPIPE_BUILD_FINGERPRINT as the plugin was compiled
  const char* name;
  const char* version;
  const char* description;
  // Called only after the checks above passed.
  void (*register_stages)(radpipe::PluginRegistrar* registrar);
};

typedef const radpipe_plugin_info* (*radpipe_plugin_entry_function)(void);
}

#define RADPIPE_PLUGIN_ENTRY_SYMBOL "radpipe_plugin_entry"
#define RADPIPE_EXPORT __attribute__((visibility("default")))

// Defines the plugin's one entry symbol. REGISTER is `void (radpipe::PluginRegistrar&)`.
#define RADPIPE_PLUGIN(NAME, VERSION, DESCRIPTION, REGISTER)                                      \
  namespace {                                                                                     \
  void radpipe_register_trampoline(radpipe::PluginRegistrar* registrar) { REGISTER(*registrar); } \
  }                                                                                               \
  extern "C" RADPIPE_EXPORT const radpipe_plugin_info* radpipe_plugin_entry(void) {               \
    static const radpipe_plugin_info info{sizeof(radpipe_plugin_info),                            \
                                          RADPIPE_ABI_VERSION,                                    \
                                          RADPIPE_SDK_VERSION_STRING,                             \
                                          RADPIPE_BUILD_FINGERPRINT,                              \
                                          NAME,                                                   \
                                          VERSION,                                                \
                                          DESCRIPTION,                                            \
                                          &radpipe_register_trampoline};                          \
    return &info;                                                                                 \
  }
