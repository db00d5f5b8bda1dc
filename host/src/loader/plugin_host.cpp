#include "loader/plugin_host.hpp"

#include "loader/elf_symbols.hpp"
#include "loader/host_keys.hpp"

#include <boost/dll/shared_library.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#ifndef RADPIPE_PLUGIN_INSTALL_DIR
#define RADPIPE_PLUGIN_INSTALL_DIR "lib/radpipe/plugins"
#endif

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
  if (void* handle = dlopen(file.c_str(), RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE)) dlclose(handle);
}

std::string demangled(const std::string& symbol) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> text(abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status), std::free);
  return status == 0 && text ? std::string(text.get()) + " (" + symbol + ")" : symbol;
}

// The symbols a lazily loaded library needs that neither the process's global scope nor the
// library's own dependencies provide: what RTLD_NOW would have refused it for, found only after
// its info struct has been checked.
std::vector<std::string> unresolved_symbols(void* handle, const std::vector<std::string>& needed) {
  std::vector<std::string> missing;
  for (const auto& symbol : needed) {
    if (dlsym(RTLD_DEFAULT, symbol.c_str()) != nullptr || dlsym(handle, symbol.c_str()) != nullptr) continue;
    missing.push_back(symbol);
  }
  dlerror(); // clear the error state the failed lookups left
  return missing;
}

// The build fingerprint a plugin file carries as a string literal, or empty. Read from the file
// when the dynamic linker refuses the library outright, so that the user still learns which build
// setting differs instead of only a mangled symbol name.
std::string fingerprint_in_file(const fs::path& file) {
  std::ifstream stream(file, std::ios::binary);
  const std::string contents((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  const auto start = contents.find("compiler=");
  if (start == std::string::npos) return {};
  const auto end = contents.find('\0', start);
  const std::string candidate = contents.substr(start, end == std::string::npos ? std::string::npos : end - start);
  return candidate.find(";cxx11_abi=") != std::string::npos ? candidate : std::string();
}

// A plugin or stage name may not contain what qualifies names (`:`, `/`) or separates words.
std::string name_problem(const std::string& name) {
  if (name.empty()) return "is empty";
  for (char c : name) {
    if (c == ':') return "contains ':', which qualifies a stage by its plugin (plugin:stage)";
    if (c == '/') return "contains '/', which `radpipe inspect` uses for KIND/NAME";
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) return "contains white space";
  }
  return {};
}

// Splits "acme:median" into {"acme", "median"}; a plain name gives an empty plugin.
std::pair<std::string, std::string> split_qualified(const std::string& name) {
  const auto colon = name.find(':');
  if (colon == std::string::npos) return {{}, name};
  return {name.substr(0, colon), name.substr(colon + 1)};
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
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
  // The build tree mirrors the install tree, so this finds the built plugins in both.
  if (fs::path bin = executable_dir(); !bin.empty()) folders.push_back(bin.parent_path() / RADPIPE_PLUGIN_INSTALL_DIR);
  return folders;
}

std::vector<fs::path> plugin_files(const std::vector<fs::path>& folders) {
  std::vector<fs::path> all;
  std::set<fs::path> seen;
  for (const auto& folder : folders) {
    std::error_code error;
    if (!fs::is_directory(folder, error)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder, error))
      if (entry.path().extension() == ".so" && !entry.is_directory(error)) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files)
      if (seen.insert(fs::weakly_canonical(file, error)).second) all.push_back(file);
  }
  return all;
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

std::string insecure_location(const fs::path& file) {
  struct stat status {};
  if (::stat(file.c_str(), &status) == 0 && (status.st_mode & S_IWOTH))
    return "the plugin file " + file.string() + " is writable by every user (mode " + octal_mode(status.st_mode) +
           "), so anyone could change the code radpipe runs";
  std::error_code error;
  std::set<fs::path> checked;
  // The folders as written (a symlink in one of them could be swapped) and as resolved.
  for (const fs::path& start : {fs::absolute(file, error).lexically_normal().parent_path(), fs::weakly_canonical(file, error).parent_path()}) {
    for (fs::path folder = start; !folder.empty(); folder = folder.parent_path()) {
      if (checked.insert(folder).second && ::stat(folder.c_str(), &status) == 0 && (status.st_mode & S_IWOTH) &&
          !(status.st_mode & S_ISVTX))
        return "the folder " + folder.string() + " is writable by every user without the sticky bit (mode " + octal_mode(status.st_mode) +
               "), so anyone could replace the plugin " + file.filename().string() + " in it";
      if (folder == folder.parent_path()) break;
    }
  }
  return {};
}

std::optional<int> compare_versions(const std::string& a, const std::string& b) {
  auto parts = [](const std::string& text) -> std::optional<std::vector<long>> {
    std::vector<long> numbers;
    std::size_t start = 0;
    while (true) {
      const std::size_t dot = text.find('.', start);
      const std::string part = text.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      long value = 0;
      auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
      if (part.empty() || error != std::errc() || end != part.data() + part.size() || value < 0) return std::nullopt;
      numbers.push_back(value);
      if (dot == std::string::npos) return numbers;
      start = dot + 1;
    }
  };
  auto left = parts(a), right = parts(b);
  if (!left || !right) return std::nullopt;
  const std::size_t count = std::max(left->size(), right->size());
  left->resize(count, 0);
  right->resize(count, 0);
  return *left < *right ? -1 : *left > *right ? 1 : 0;
}

std::string qualified_name(const StageEntry& entry) {
  return (entry.plugin ? entry.plugin->name : std::string("?")) + ":" + (entry.stage ? entry.stage->name : std::string("?"));
}

void PluginHost::load_folders(const std::vector<fs::path>& folders) {
  for (const auto& file : plugin_files(folders)) load_file(file);
}

bool PluginHost::refuse(const fs::path& file, const std::string& reason) {
  broken_.push_back({file, reason});
  return false;
}

bool PluginHost::load_file(const fs::path& file) {
  auto fail = [&](const std::string& reason) { return refuse(file, reason); };

  if (std::string insecure = insecure_location(file); !insecure.empty()) {
    if (!options_.allow_insecure)
      return fail("refused: " + insecure + "; remove the write permission of others (chmod o-w), or pass "
                  "--allow-insecure-plugins to load it anyway");
    warnings_.push_back("loading " + file.string() + " although " + insecure + " (--allow-insecure-plugins)");
  }

  // Read from the file: a library that is no radpipe plugin is refused before its constructors run.
  DynamicSymbols symbols;
  try {
    symbols = read_dynamic_symbols(file);
  } catch (const std::exception& error) {
    return fail(std::string("not a loadable shared library: ") + error.what());
  }
  if (std::find(symbols.defined.begin(), symbols.defined.end(), RADPIPE_PLUGIN_ENTRY_SYMBOL) == symbols.defined.end())
    return fail("no entry symbol '" RADPIPE_PLUGIN_ENTRY_SYMBOL "': not a radpipe plugin (define one with RADPIPE_PLUGIN); "
                "it was not loaded. A plugin's own libraries belong outside the plugin folder (see docs/plugins.md)");

  // Lazy binding: a plugin built with another C++ ABI references SDK functions under other
  // names; resolving them now would refuse it with a raw `undefined symbol` before its info
  // struct could say why. Every needed symbol is checked below, once the struct has been read.
  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    library->load(file, boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    const std::string fingerprint = fingerprint_in_file(file);
    if (std::string difference = fingerprint_difference(fingerprint, RADPIPE_BUILD_FINGERPRINT); !fingerprint.empty() && !difference.empty())
      return fail("build fingerprint mismatch (" + difference + "); rebuild the plugin with the host's toolchain and libraries " +
                  "(the dynamic linker refused it: " + error.what() + ")");
    return fail(std::string("not a loadable shared library: ") + error.what());
  }
  auto entry = library->get<std::remove_pointer_t<radpipe_plugin_entry_function>>(RADPIPE_PLUGIN_ENTRY_SYMBOL);
  const radpipe_plugin_info* info = entry();
  if (info == nullptr) return fail("the entry symbol returned no plugin information");

  // The first two fields are the same in every ABI version, so they are safe to read first.
  constexpr std::uint32_t stamp_size = offsetof(radpipe_plugin_info, abi_version) + sizeof(std::uint32_t);
  if (info->struct_size < stamp_size) return fail("plugin information is truncated (" + std::to_string(info->struct_size) + " bytes)");
  if (info->abi_version != RADPIPE_ABI_VERSION)
    return fail("ABI version mismatch: plugin has ABI " + std::to_string(info->abi_version) + " (SDK " +
                (info->struct_size >= offsetof(radpipe_plugin_info, fingerprint) ? text_of(info->sdk_version) : std::string("?")) +
                "), host has ABI " + std::to_string(RADPIPE_ABI_VERSION) + " (SDK " RADPIPE_SDK_VERSION_STRING
                "); rebuild the plugin against this radpipe SDK");
  if (info->struct_size < RADPIPE_PLUGIN_INFO_MINIMUM_SIZE)
    return fail("plugin information has " + std::to_string(info->struct_size) + " bytes, ABI " + std::to_string(RADPIPE_ABI_VERSION) +
                " needs at least " + std::to_string(RADPIPE_PLUGIN_INFO_MINIMUM_SIZE));
  const std::string fingerprint = text_of(info->fingerprint);
  if (std::string difference = fingerprint_difference(fingerprint, RADPIPE_BUILD_FINGERPRINT); !difference.empty())
    return fail("build fingerprint mismatch (" + difference + "); rebuild the plugin with the host's toolchain and libraries");

  // Fields appended after the first ABI-2 layout: read only those the plugin's struct has.
  auto appended = [&](const char* const radpipe_plugin_info::*field, std::size_t offset) {
    return info->struct_size >= offset + sizeof(const char*) ? text_of(info->*field) : std::string();
  };
  auto plugin = std::make_unique<LoadedPlugin>();
  plugin->file = file;
  plugin->name = text_of(info->name);
  plugin->version = text_of(info->version);
  plugin->description = text_of(info->description);
  plugin->sdk_version = text_of(info->sdk_version);
  plugin->library = library;
  plugin->license = appended(&radpipe_plugin_info::license, offsetof(radpipe_plugin_info, license));
  plugin->vendor = appended(&radpipe_plugin_info::vendor, offsetof(radpipe_plugin_info, vendor));
  plugin->url = appended(&radpipe_plugin_info::url, offsetof(radpipe_plugin_info, url));
  plugin->min_host_version = appended(&radpipe_plugin_info::min_host_version, offsetof(radpipe_plugin_info, min_host_version));
  plugin->abi_version = info->abi_version;
  plugin->info_size = info->struct_size;

  if (!plugin->min_host_version.empty()) {
    const auto order = compare_versions(plugin->min_host_version, RADPIPE_SDK_VERSION_STRING);
    if (!order)
      return fail("plugin " + plugin->name + ": min_host_version '" + plugin->min_host_version + "' is not a version number such as 0.2.0");
    if (*order > 0)
      return fail("plugin " + plugin->name + " " + plugin->version + " needs radpipe " + plugin->min_host_version +
                  " or newer; this host is radpipe " RADPIPE_SDK_VERSION_STRING ": upgrade radpipe, or use an older release of the plugin");
  }
  if (std::string problem = name_problem(plugin->name); !problem.empty())
    return fail("the plugin information's name '" + plugin->name + "' " + problem);
  if (info->register_stages == nullptr) return fail("the plugin information has no register_stages function");

  for (const auto& other : plugins_)
    if (other->name == plugin->name)
      return fail("a plugin named '" + plugin->name + "' is already loaded from " + other->file.string());

  if (auto missing = unresolved_symbols(library->native(), symbols.undefined); !missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 3; ++i) list += (i ? ", " : "") + demangled(missing[i]);
    if (missing.size() > 3) list += " and " + std::to_string(missing.size() - 3) + " more";
    return fail("plugin " + plugin->name + " needs symbols that no loaded library provides: " + list +
                "; rebuild it against the libraries this radpipe uses");
  }

  PluginRegistrar registrar;
  try {
    info->register_stages(&registrar);
  } catch (const std::exception& error) {
    return fail("plugin " + plugin->name + ": register_stages threw: " + error.what());
  } catch (...) {
    return fail("plugin " + plugin->name + ": register_stages threw an unknown exception");
  }

  std::set<std::pair<StageKind, std::string>> names;
  for (const auto& stage : registrar.stages()) {
    if (std::string problem = name_problem(stage.name); !problem.empty())
      return fail("plugin " + plugin->name + ": the name of " + std::string(to_string(stage.kind)) + " '" + stage.name + "' " + problem);
    if (!stage.factory) return fail("plugin " + plugin->name + ": stage '" + stage.name + "' has no factory");
    // A key radpipe reads itself in every table of this kind would mean two things at once.
    for (const auto& spec : stage.schema.specs())
      if (spec.name == "stage" || host_keys_for(stage.kind).find(spec.name) != nullptr)
        return fail("plugin " + plugin->name + ": " + std::string(to_string(stage.kind)) + " stage '" + stage.name + "' declares key '" +
                    spec.name + "', which radpipe reads itself in every " + std::string(to_string(stage.kind)) +
                    " table (`radpipe inspect " + stage.name + "` lists those keys); rename it");
    if (!names.emplace(stage.kind, stage.name).second)
      return fail("plugin " + plugin->name + " registers " + std::string(to_string(stage.kind)) + " '" + stage.name + "' twice");
    plugin->stages.push_back(stage);
  }
  keep_resident(file);
  plugins_.push_back(std::move(plugin));
  return true;
}

std::vector<StageClash> PluginHost::clashes() const {
  std::map<std::pair<StageKind, std::string>, std::vector<StageEntry>> by_name;
  for (const auto& plugin : plugins_)
    for (const auto& stage : plugin->stages) by_name[{stage.kind, stage.name}].push_back({plugin.get(), &stage});
  std::vector<StageClash> clashes;
  for (auto& [key, entries] : by_name)
    if (entries.size() > 1) clashes.push_back({key.first, key.second, std::move(entries)});
  return clashes;
}

std::optional<StageEntry> PluginHost::find(StageKind kind, const std::string& name) const {
  auto [plugin_name, stage_name] = split_qualified(name);
  std::optional<StageEntry> found;
  for (const auto& plugin : plugins_) {
    if (!plugin_name.empty() && plugin->name != plugin_name) continue;
    for (const auto& stage : plugin->stages) {
      if (stage.kind != kind || stage.name != stage_name) continue;
      if (found) return std::nullopt; // a plain name that several plugins register: ambiguity() says so
      found = StageEntry{plugin.get(), &stage};
    }
  }
  return found;
}

std::string PluginHost::ambiguity(StageKind kind, const std::string& name) const {
  if (name.find(':') != std::string::npos) return {};
  std::vector<std::string> plugins, qualified;
  for (const auto& entry : stages_of(kind))
    if (entry.stage->name == name) {
      plugins.push_back(entry.plugin->name + " (" + entry.plugin->file.string() + ")");
      qualified.push_back("'" + qualified_name(entry) + "'");
    }
  if (plugins.size() < 2) return {};
  std::string text = std::string(to_string(kind)) + " '" + name + "' is registered by " + std::to_string(plugins.size()) + " plugins: ";
  for (std::size_t i = 0; i < plugins.size(); ++i) text += (i ? ", " : "") + plugins[i];
  text += "; name the one to use: ";
  for (std::size_t i = 0; i < qualified.size(); ++i) text += (i ? " or " : "") + qualified[i];
  return text;
}

std::vector<StageEntry> PluginHost::stages_of(StageKind kind) const {
  std::vector<StageEntry> entries;
  for (const auto& plugin : plugins_)
    for (const auto& stage : plugin->stages)
      if (stage.kind == kind) entries.push_back({plugin.get(), &stage});
  return entries;
}

std::vector<StageEntry> PluginHost::stages_named(const std::string& name) const {
  auto [plugin_name, stage_name] = split_qualified(name);
  std::vector<StageEntry> entries;
  for (const auto& plugin : plugins_) {
    if (!plugin_name.empty() && plugin->name != plugin_name) continue;
    for (const auto& stage : plugin->stages)
      if (stage.name == stage_name) entries.push_back({plugin.get(), &stage});
  }
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
