// The plugin loader: finds plugin libraries, checks their ABI before trusting them, keeps them
// loaded while anything they made lives, and turns every exception from plugin code into a
// PluginError that names plugin, stage and key.
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
};

struct BrokenPlugin {
  std::filesystem::path file;
  std::string reason;
};

struct StageEntry {
  const LoadedPlugin* plugin = nullptr;
  const StageDescriptor* stage = nullptr;
};

// The folders searched, in order: each --plugin-path, then RADPIPE_PLUGIN_PATH (colon-separated),
// then the installation's lib/radpipe/plugins beside the executable.
std::vector<std::filesystem::path> plugin_search_path(const std::vector<std::filesystem::path>& from_command_line);

// Compares two fingerprints field by field; empty when they agree, else e.g.
// "torch: plugin built with 1.12, host with 1.13".
std::string fingerprint_difference(const std::string& plugin, const std::string& host);

class PluginHost {
public:
  PluginHost() = default;
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Loads every `*.so` in the folders (not recursive). A library that fails any check is
  // recorded in broken() and skipped. A stage name that an earlier plugin already registered for
  // the same kind is skipped with a note in shadowed().
  void load_folders(const std::vector<std::filesystem::path>& folders);
  // Loads one library; returns false and records it as broken when it fails a check.
  bool load_file(const std::filesystem::path& file);

  const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const { return plugins_; }
  const std::vector<BrokenPlugin>& broken() const { return broken_; }
  const std::vector<std::string>& shadowed() const { return shadowed_; }

  std::optional<StageEntry> find(StageKind kind, const std::string& name) const;
  std::vector<StageEntry> stages_of(StageKind kind) const;
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

  std::vector<std::unique_ptr<LoadedPlugin>> plugins_;
  std::vector<BrokenPlugin> broken_;
  std::vector<std::string> shadowed_;
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
