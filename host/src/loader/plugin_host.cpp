#include "loader/plugin_host.hpp"

#include "loader/host_keys.hpp"

#include <boost/dll/shared_library.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

namespace radpipe::host {
namespace fs = std::filesystem;

namespace {

std::map<std::string, std::string> parse_fingerprint(const std::string& text) {
  std::map<std::string, std::string> fields;
  std::istringstream stream(text);
  std::string field;
  while (std::getline(stream, field, ';')) {
    auto equals = field.find('=');
    if (equals == std::string::npos) fields[field] = "";
    else fields[field.substr(0, equals)] = field.substr(equals + 1);
  }
  return fields;
}

fs::path executable_dir() {
  std::error_code error;
  fs::path self = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::path{} : self.parent_path();
}

// A copy of a C string from a plugin's info struct, guarding against null pointers.
std::string text_of(const char* text) { return text ? std::string(text) : std::string(); }

// Plugins stay mapped until the process ends, as GStreamer modules do: LibTorch and CUDA register
// global state (operators, allocators, atexit handlers) that must not vanish with a dlclose.
void keep_resident(const fs::path& file) {
  if (void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)) dlclose(handle);
}

} // namespace

std::vector<fs::path> plugin_search_path(const std::vector<fs::path>& from_command_line) {
  std::vector<fs::path> folders(from_command_line.begin(), from_command_line.end());
  if (const char* variable = std::getenv("RADPIPE_PLUGIN_PATH")) {
    std::istringstream stream(variable);
    std::string folder;
    while (std::getline(stream, folder, ':'))
      if (!folder.empty()) folders.emplace_back(folder);
  }
  if (fs::path bin = executable_dir(); !bin.empty()) folders.push_back(bin.parent_path() / "lib" / "radpipe" / "plugins");
  return folders;
}

std::string fingerprint_difference(const std::string& plugin, const std::string& host) {
  auto plugin_fields = parse_fingerprint(plugin);
  auto host_fields = parse_fingerprint(host);
  std::set<std::string> keys;
  for (const auto& [key, value] : plugin_fields) keys.insert(key);
  for (const auto& [key, value] : host_fields) keys.insert(key);
  std::string differences;
  for (const auto& key : keys) {
    auto in_plugin = plugin_fields.count(key) ? plugin_fields[key] : "(absent)";
    auto in_host = host_fields.count(key) ? host_fields[key] : "(absent)";
    if (in_plugin == in_host) continue;
    if (!differences.empty()) differences += "; ";
    differences += key + ": plugin built with " + in_plugin + ", host with " + in_host;
  }
  return differences;
}

void PluginHost::load_folders(const std::vector<fs::path>& folders) {
  std::set<fs::path> seen;
  for (const auto& folder : folders) {
    std::error_code error;
    if (!fs::is_directory(folder, error)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder, error))
      if (entry.path().extension() == ".so" && !entry.is_directory()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      fs::path canonical = fs::weakly_canonical(file, error);
      if (seen.insert(canonical).second) load_file(file);
    }
  }
}

bool PluginHost::load_file(const fs::path& file) {
  auto fail = [&](const std::string& reason) {
    broken_.push_back({file, reason});
    return false;
  };

  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    // rtld_now: a missing symbol shows up here, with the library's name, not later mid-run.
    library->load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    return fail(std::string("not a loadable shared library: ") + error.what());
  }
  if (!library->has(RADPIPE_PLUGIN_ENTRY_SYMBOL))
    return fail("no entry symbol '" RADPIPE_PLUGIN_ENTRY_SYMBOL "': not a radpipe plugin (define one with RADPIPE_PLUGIN)");

  auto entry = library->get<std::remove_pointer_t<radpipe_plugin_entry_function>>(RADPIPE_PLUGIN_ENTRY_SYMBOL);
  const radpipe_plugin_info* info = entry();
  if (info == nullptr) return fail("the entry symbol returned no plugin information");

  // The first two fields are the same in every ABI version, so they are safe to read first.
  constexpr std::uint32_t minimum_size = offsetof(radpipe_plugin_info, abi_version) + sizeof(std::uint32_t);
  if (info->struct_size < minimum_size) return fail("plugin information is truncated (" + std::to_string(info->struct_size) + " bytes)");
  if (info->abi_version != RADPIPE_ABI_VERSION)
    return fail("ABI version mismatch: plugin has ABI " + std::to_string(info->abi_version) + ", host has ABI " +
                std::to_string(RADPIPE_ABI_VERSION) + "; rebuild the plugin against this radpipe SDK");
  if (info->struct_size < sizeof(radpipe_plugin_info))
    return fail("plugin information has " + std::to_string(info->struct_size) + " bytes, ABI " +
                std::to_string(RADPIPE_ABI_VERSION) + " needs " + std::to_string(sizeof(radpipe_plugin_info)));
  const std::string fingerprint = text_of(info->fingerprint);
  if (std::string difference = fingerprint_difference(fingerprint, RADPIPE_BUILD_FINGERPRINT); !difference.empty())
    return fail("build fingerprint mismatch (" + difference + "); rebuild the plugin with the host's toolchain and libraries");
  if (text_of(info->name).empty()) return fail("the plugin information has no name");
  if (info->register_stages == nullptr) return fail("the plugin information has no register_stages function");

  auto plugin = std::make_unique<LoadedPlugin>();
  plugin->file = file;
  plugin->name = text_of(info->name);
  plugin->version = text_of(info->version);
  plugin->description = text_of(info->description);
  plugin->sdk_version = text_of(info->sdk_version);
  plugin->library = library;

  for (const auto& other : plugins_)
    if (other->name == plugin->name)
      return fail("a plugin named '" + plugin->name + "' is already loaded from " + other->file.string());

  PluginRegistrar registrar;
  try {
    info->register_stages(&registrar);
  } catch (const std::exception& error) {
    return fail("plugin " + plugin->name + ": register_stages threw: " + error.what());
  } catch (...) {
    return fail("plugin " + plugin->name + ": register_stages threw an unknown exception");
  }

  for (const auto& stage : registrar.stages()) {
    if (!stage.factory) return fail("plugin " + plugin->name + ": stage '" + stage.name + "' has no factory");
    // A key radpipe reads itself in every table of this kind would mean two things at once.
    for (const auto& spec : stage.schema.specs())
      if (spec.name == "stage" || host_keys_for(stage.kind).find(spec.name) != nullptr)
        return fail("plugin " + plugin->name + ": " + std::string(to_string(stage.kind)) + " stage '" + stage.name + "' declares key '" +
                    spec.name + "', which radpipe reads itself in every " + std::string(to_string(stage.kind)) +
                    " table (`radpipe inspect " + stage.name + "` lists those keys); rename it");
    if (auto earlier = find(stage.kind, stage.name)) {
      shadowed_.push_back(std::string(to_string(stage.kind)) + " '" + stage.name + "' of plugin " + plugin->name + " (" +
                          file.string() + ") is hidden by plugin " + earlier->plugin->name + " (" +
                          earlier->plugin->file.string() + ")");
      continue;
    }
    plugin->stages.push_back(stage);
  }
  keep_resident(file);
  plugins_.push_back(std::move(plugin));
  return true;
}

std::optional<StageEntry> PluginHost::find(StageKind kind, const std::string& name) const {
  for (const auto& plugin : plugins_)
    for (const auto& stage : plugin->stages)
      if (stage.kind == kind && stage.name == name) return StageEntry{plugin.get(), &stage};
  return std::nullopt;
}

std::vector<StageEntry> PluginHost::stages_of(StageKind kind) const {
  std::vector<StageEntry> entries;
  for (const auto& plugin : plugins_)
    for (const auto& stage : plugin->stages)
      if (stage.kind == kind) entries.push_back({plugin.get(), &stage});
  return entries;
}

std::vector<StageEntry> PluginHost::stages_named(const std::string& name) const {
  std::vector<StageEntry> entries;
  for (const auto& plugin : plugins_)
    for (const auto& stage : plugin->stages)
      if (stage.name == name) entries.push_back({plugin.get(), &stage});
  return entries;
}

std::string PluginHost::describe(const StageEntry& entry, const std::string& key) {
  std::string text = "plugin " + (entry.plugin ? entry.plugin->name : std::string("?")) + ", stage " +
                     (entry.stage ? std::string(to_string(entry.stage->kind)) + " " + entry.stage->name : std::string("?"));
  if (!key.empty()) text += ", key " + key;
  return text + ": ";
}

std::shared_ptr<Stage> PluginHost::create_stage(const StageEntry& entry, const Params& params,
                                                const StageContext& context) const {
  std::unique_ptr<Stage> stage = call_plugin(entry, [&] { return entry.stage->factory(params, context); });
  if (!stage) throw PluginError(describe(entry, "") + "the factory returned no object");
  // The deleter owns a reference to the library: the code that destroys the object stays mapped.
  auto library = entry.plugin->library;
  return std::shared_ptr<Stage>(stage.release(), [library](Stage* object) { std::unique_ptr<Stage>{object}; });
}

} // namespace radpipe::host
