// The plugin loader: finds plugin libraries, refuses the ones it must not trust before running
// any of their code, checks their ABI before calling into them, keeps them loaded while anything
// they made lives, and turns every exception from plugin code into a PluginError that names
// plugin, stage and key.
#pragma once

#include <radpipe/plugin.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace boost::dll {
class shared_library;
}

namespace radpipe::host {

// An error raised by plugin code (or by the host about a plugin), already phrased for the user:
// `plugin NAME, stage KIND NAME, key KEY: message`.
class PluginError : public std::runtime_error {
public:
  // `key`: the parameter at fault, when the plugin named one, so that the host can add where the
  // pipeline file sets it.
  explicit PluginError(const std::string& message, std::string key = {}) : std::runtime_error(message), key_(std::move(key)) {}
  const std::string& key() const noexcept { return key_; }

private:
  std::string key_;
};

struct LoadedPlugin {
  std::filesystem::path file;
  std::string name;
  std::string version;
  std::string description;
  std::string sdk_version;
  std::vector<StageDescriptor> stages;
  std::shared_ptr<boost::dll::shared_library> library;
  // Metadata appended to the info struct in SDK 0.2.0; empty when the plugin's struct predates it.
  std::string license;
  std::string vendor;
  std::string url;
  std::string min_host_version;
  std::uint32_t abi_version = 0;
  std::uint32_t info_size = 0; // the info struct's size as the plugin declared it
};

struct BrokenPlugin {
  std::filesystem::path file;
  std::string reason;
};

struct StageEntry {
  const LoadedPlugin* plugin = nullptr;
  const StageDescriptor* stage = nullptr;
};

// A stage name that several plugins register for the same kind: pipelines must qualify it.
struct StageClash {
  StageKind kind = StageKind::Transform;
  std::string name;
  std::vector<StageEntry> entries; // in load order
};

struct LoadOptions {
  // Load plugin files that other users could have replaced (world-writable files, or folders
  // writable by others without the sticky bit), with a warning instead of a refusal.
  bool allow_insecure = false;
};

// The folders searched, in order: each --plugin-path, then RADPIPE_PLUGIN_PATH (colon-separated),
// then the installation's plugin folder (lib/radpipe/plugins beside the executable's bin/).
std::vector<std::filesystem::path> plugin_search_path(const std::vector<std::filesystem::path>& from_command_line);

// The `*.so` files of `folders` (not recursive), sorted within each folder, each file once.
std::vector<std::filesystem::path> plugin_files(const std::vector<std::filesystem::path>& folders);

// Compares two fingerprints field by field; empty when they agree, else e.g.
// "torch: plugin built with 1.12, host with 1.13".
std::string fingerprint_difference(const std::string& plugin, const std::string& host);

// Why another user could replace `file`'s code, or empty when nobody but its owners can: the file
// is world-writable, or a folder on its path is writable by others without the sticky bit.
std::string insecure_location(const std::filesystem::path& file);

// Compares dotted version numbers ("0.10.1" > "0.9"); missing parts count as 0. nullopt when
// either is not made of dot-separated decimal numbers.
std::optional<int> compare_versions(const std::string& a, const std::string& b);

// "acme:median": a stage name qualified by its plugin's name.
std::string qualified_name(const StageEntry& entry);

class PluginHost {
public:
  explicit PluginHost(LoadOptions options = {}) : options_(options) {}
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;
  // Applies to the libraries loaded after the call.
  void set_options(LoadOptions options) { options_ = options; }

  // Loads every file of plugin_files(folders). A library that fails any check is recorded in
  // broken() and skipped.
  void load_folders(const std::vector<std::filesystem::path>& folders);
  // Loads one library; returns false and records it as broken when it fails a check. The checks,
  // in order: the file's location is safe, its dynamic symbols include the entry symbol (read
  // from the file, before anything of it runs); then, loaded with lazy binding: info struct size,
  // ABI version, build fingerprint, minimum host version, name, every symbol it needs resolves;
  // only then is register_stages called.
  bool load_file(const std::filesystem::path& file);

  const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const { return plugins_; }
  const std::vector<BrokenPlugin>& broken() const { return broken_; }
  // Notes about libraries loaded despite a problem (an insecure location with allow_insecure).
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Every stage name that more than one plugin registers for the same kind.
  std::vector<StageClash> clashes() const;

  // The stage `name` of `kind`. `name` is either plain ("median") or qualified by its plugin
  // ("acme:median"). nullopt when no plugin has it, or when a plain name is registered by several
  // plugins (ambiguity() then says so).
  std::optional<StageEntry> find(StageKind kind, const std::string& name) const;
  // Empty unless the plain `name` is registered for `kind` by several plugins; then a sentence
  // naming them and the qualified names to use instead.
  std::string ambiguity(StageKind kind, const std::string& name) const;
  std::vector<StageEntry> stages_of(StageKind kind) const;
  // Every stage of any kind called `name` (plain or qualified).
  std::vector<StageEntry> stages_named(const std::string& name) const;

  // Builds a stage. The returned object keeps its library loaded until it is destroyed. Any
  // exception from the factory becomes a PluginError naming the plugin, stage and key.
  template <class Interface>
  std::shared_ptr<Interface> create(const StageEntry& entry, const Params& params, const StageContext& context) const {
    std::shared_ptr<Stage> stage = create_stage(entry, params, context);
    auto typed = std::dynamic_pointer_cast<Interface>(stage);
    if (!typed)
      throw PluginError(describe(entry, "") + "the factory returned an object that is not a " +
                        std::string(to_string(Interface::kind)));
    return typed;
  }

  // "plugin NAME, stage KIND NAME, key KEY: " (the key part only when `key` is not empty).
  static std::string describe(const StageEntry& entry, const std::string& key);

private:
  std::shared_ptr<Stage> create_stage(const StageEntry& entry, const Params& params, const StageContext& context) const;
  bool refuse(const std::filesystem::path& file, const std::string& reason);

  LoadOptions options_;
  std::vector<std::unique_ptr<LoadedPlugin>> plugins_;
  std::vector<BrokenPlugin> broken_;
  std::vector<std::string> warnings_;
};

// Runs `action`, turning any exception escaping plugin code into a PluginError for `entry`.
template <class Action>
decltype(auto) call_plugin(const StageEntry& entry, Action&& action) {
  try {
    return action();
  } catch (const PluginError&) {
    throw;
  } catch (const SampleError&) {
    throw; // a bad sample, not a bad plugin: the run's on_error policy decides
  } catch (const StageError& error) {
    throw PluginError(PluginHost::describe(entry, error.key()) + error.what(), error.key());
  } catch (const std::exception& error) {
    throw PluginError(PluginHost::describe(entry, "") + error.what());
  } catch (...) {
    throw PluginError(PluginHost::describe(entry, "") + "unknown exception (not derived from std::exception)");
  }
}

} // namespace radpipe::host
