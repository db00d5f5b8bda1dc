/// @file
/// @brief How a plugin library introduces itself: its entry symbol, info struct and stages.
///
/// A plugin defines exactly one entry symbol, with #RADPIPE_PLUGIN or #RADPIPE_PLUGIN_DEFINE. The
/// host reads the plain-C radpipe_plugin_info it returns and checks, in this order, struct size,
/// ABI version, build fingerprint and minimum host version; only then does it call
/// `register_stages`, the first C++ call into the plugin. Registration happens there, never in
/// static initialisers, and every exception it or a factory throws is caught by the host.
///
/// @code
/// static void register_stages(radpipe::PluginRegistrar& registrar) {
///   registrar.add<MeanAggregator>("mean", "Mean of the image probabilities", MeanAggregator::schema());
/// }
/// RADPIPE_PLUGIN_DEFINE(register_stages, .name = "acme", .version = "1.2.0",
///                       .description = "Study-level aggregation", .license = "MIT",
///                       .vendor = "Acme Imaging", .url = "https://acme.example/radpipe",
///                       .min_host_version = "0.2.0")
/// @endcode
#pragma once

#include <radpipe/error.hpp>
#include <radpipe/fingerprint.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <radpipe/version.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace radpipe {

/// Builds a stage from its validated parameters. Called by the host, possibly several times (one
/// object per pipeline table that names the stage). Any exception it throws reaches the user as
/// `plugin NAME, stage KIND NAME, key KEY: message`.
using StageFactory = std::function<std::unique_ptr<Stage>(const Params&, const StageContext&)>;

/// How a reader takes single files handed to the host (`radpipe show FILE`): which files it can
/// read, judged cheaply (extension, magic bytes), and the parameter that names the file. The host
/// picks a reader this way instead of knowing reader stages by name.
struct FileSupport {
  /// Whether the reader reads `file` on its own; cheap (extension, magic bytes), never decoding.
  std::function<bool(const std::filesystem::path&)> can_read;
  /// The reader's parameter that names the file.
  std::string path_key;
};

/// One stage a plugin offers.
struct StageDescriptor {
  /// The interface the stage implements.
  StageKind kind = StageKind::Transform;
  /// The name pipelines use in `stage = "..."`. Letters, digits, `_`, `-` and `.`; never `:`
  /// (which qualifies a name by its plugin, `acme:median`) nor `/` (`inspect`'s `KIND/NAME`).
  /// When two plugins register the same name for the same kind, a pipeline must qualify it.
  std::string name;
  /// One line for `radpipe plugins` and `radpipe inspect`.
  std::string summary;
  /// Every parameter of the stage: what `check` validates and `inspect` documents.
  Schema schema;
  /// Makes the stage object.
  StageFactory factory;
  /// Readers only: the files they read on their own (`radpipe show FILE`).
  std::optional<FileSupport> files;
};

/// Collects the stages a plugin registers in its `register_stages` function.
class PluginRegistrar {
public:
  /// Registers `StageT`, constructed as `StageT(const Params&, const StageContext&)`. Its kind
  /// comes from the interface it implements (`StageT::kind`). Returns the new descriptor, for what
  /// only some stages declare (a reader's `files`); the reference is valid until the next add.
  template <class StageT>
  StageDescriptor& add(std::string name, std::string summary, Schema schema) {
    static_assert(std::is_base_of_v<Stage, StageT>, "a stage derives from a radpipe stage interface");
    return add(StageDescriptor{StageT::kind, std::move(name), std::move(summary), std::move(schema),
                               [](const Params& params, const StageContext& context) -> std::unique_ptr<Stage> {
                                 return std::make_unique<StageT>(params, context);
                               },
                               std::nullopt});
  }
  /// Registers a stage described by hand (for factories that choose the class at run time).
  StageDescriptor& add(StageDescriptor descriptor) {
    stages_.push_back(std::move(descriptor));
    return stages_.back();
  }

  /// The stages registered so far, in order.
  const std::vector<StageDescriptor>& stages() const { return stages_; }

private:
  std::vector<StageDescriptor> stages_;
};

/// What a plugin says about itself, written with designated initialisers in
/// #RADPIPE_PLUGIN_DEFINE (in this order; omitted fields stay empty). Plain string literals only:
/// the host reads them before it trusts the plugin's C++ ABI.
struct PluginMetadata {
  const char* name = nullptr;        ///< Unique among loaded plugins; qualifies stage names (`name:stage`). Required.
  const char* version = nullptr;     ///< The plugin's own release, e.g. `1.2.0`. Required.
  const char* description = nullptr; ///< One line for `radpipe plugins`.
  const char* license = nullptr;     ///< SPDX identifier of the plugin's licence, e.g. `Apache-2.0`.
  const char* vendor = nullptr;      ///< Who ships and supports the plugin.
  const char* url = nullptr;         ///< Where its documentation and updates are.
  const char* min_host_version = nullptr; ///< The oldest radpipe release (SDK version) it runs in, e.g. `0.2.0`.
};

} // namespace radpipe

extern "C" {

/// The information a plugin's entry symbol returns. Plain data only, so that the host can read it
/// before trusting the plugin's C++ ABI.
///
/// Fields are only ever appended, never reordered or removed, within one ABI version:
/// `struct_size` tells the host which ones a plugin has, so that a plugin built against an older
/// SDK release of the same ABI still loads (the fields it lacks read as empty). The first two
/// fields are the same in every ABI version. A field appended later is documented with the SDK
/// release that added it.
struct radpipe_plugin_info {
  std::uint32_t struct_size; ///< `sizeof` the struct as the plugin was compiled.
  std::uint32_t abi_version; ///< #RADPIPE_ABI_VERSION as the plugin was compiled.
  const char* sdk_version;   ///< #RADPIPE_SDK_VERSION_STRING as the plugin was compiled.
  const char* fingerprint;   ///< #RADPIPE_BUILD_FINGERPRINT as the plugin was compiled.
  const char* name;          ///< See radpipe::PluginMetadata::name.
  const char* version;       ///< See radpipe::PluginMetadata::version.
  const char* description;   ///< See radpipe::PluginMetadata::description.
  /// Registers the plugin's stages; called only after every check above passed.
  void (*register_stages)(radpipe::PluginRegistrar* registrar);
  // Appended in SDK 0.2.0 (ABI 2). A plugin whose struct ends before them is still loaded.
  const char* license;          ///< See radpipe::PluginMetadata::license. Since SDK 0.2.0.
  const char* vendor;           ///< See radpipe::PluginMetadata::vendor. Since SDK 0.2.0.
  const char* url;              ///< See radpipe::PluginMetadata::url. Since SDK 0.2.0.
  const char* min_host_version; ///< See radpipe::PluginMetadata::min_host_version. Since SDK 0.2.0.
};

/// The type of the entry symbol, #RADPIPE_PLUGIN_ENTRY_SYMBOL.
typedef const radpipe_plugin_info* (*radpipe_plugin_entry_function)(void);
}

/// The smallest info struct an ABI-2 host accepts: the fields up to `register_stages`.
#define RADPIPE_PLUGIN_INFO_MINIMUM_SIZE offsetof(radpipe_plugin_info, license)

/// The name of the one symbol a plugin exports. The host reads a library's dynamic symbol table
/// before loading it and refuses, unloaded, a library without this symbol.
#define RADPIPE_PLUGIN_ENTRY_SYMBOL "radpipe_plugin_entry"
/// Exports a symbol from a library built with hidden visibility.
#define RADPIPE_EXPORT __attribute__((visibility("default")))

/// Defines the plugin's entry symbol. REGISTER is a function `void (radpipe::PluginRegistrar&)`;
/// the rest are designated initialisers of radpipe::PluginMetadata, in its order:
/// @code
/// RADPIPE_PLUGIN_DEFINE(register_stages, .name = "acme", .version = "1.2.0", .license = "MIT")
/// @endcode
#define RADPIPE_PLUGIN_DEFINE(REGISTER, ...)                                                      \
  namespace {                                                                                     \
  void radpipe_register_trampoline(radpipe::PluginRegistrar* registrar) { REGISTER(*registrar); } \
  constexpr radpipe::PluginMetadata radpipe_plugin_metadata{__VA_ARGS__};                         \
  static_assert(radpipe_plugin_metadata.name != nullptr && radpipe_plugin_metadata.name[0] != '\0', \
                "RADPIPE_PLUGIN_DEFINE needs .name = \"...\"");                                   \
  static_assert(radpipe_plugin_metadata.version != nullptr,                                       \
                "RADPIPE_PLUGIN_DEFINE needs .version = \"...\"");                                \
  }                                                                                               \
  extern "C" RADPIPE_EXPORT const radpipe_plugin_info* radpipe_plugin_entry(void) {               \
    static constexpr radpipe_plugin_info info{sizeof(radpipe_plugin_info),                        \
                                              RADPIPE_ABI_VERSION,                                \
                                              RADPIPE_SDK_VERSION_STRING,                         \
                                              RADPIPE_BUILD_FINGERPRINT,                          \
                                              radpipe_plugin_metadata.name,                       \
                                              radpipe_plugin_metadata.version,                    \
                                              radpipe_plugin_metadata.description,                \
                                              &radpipe_register_trampoline,                       \
                                              radpipe_plugin_metadata.license,                    \
                                              radpipe_plugin_metadata.vendor,                     \
                                              radpipe_plugin_metadata.url,                        \
                                              radpipe_plugin_metadata.min_host_version};          \
    return &info;                                                                                 \
  }

/// The short form of #RADPIPE_PLUGIN_DEFINE: name, version and description only.
/// @code
/// RADPIPE_PLUGIN("aggregators", "1.0.0", "Study-level aggregation", register_stages)
/// @endcode
#define RADPIPE_PLUGIN(NAME, VERSION, DESCRIPTION, REGISTER)                                      \
  RADPIPE_PLUGIN_DEFINE(REGISTER, .name = NAME, .version = VERSION, .description = DESCRIPTION)
