#include "runtime/input_reader.hpp"

#include <fstream>
#include <stdexcept>

namespace radpipe::host {
namespace fs = std::filesystem;
namespace {

std::optional<StageEntry> reader_for(const PluginHost& plugins, const fs::path& file) {
  for (const auto& candidate : plugins.stages_of(StageKind::Reader))
    if (candidate.stage->files &&
        call_plugin(candidate, [&] { return candidate.stage->files->can_read(file); }))
      return candidate;
  return std::nullopt;
}

// A folder's reader: the one that reads its first readable file.
std::optional<StageEntry> reader_for_folder(const PluginHost& plugins, const fs::path& folder) {
  for (const auto& item :
       fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied))
    if (item.is_regular_file())
      if (auto entry = reader_for(plugins, item.path())) return entry;
  return std::nullopt;
}

} // namespace

InputsReader::InputsReader(const PluginHost& plugins, const std::vector<std::string>& inputs)
    : plugins_(plugins) {
  auto add = [&](const fs::path& path, bool from_list) {
    if (fs::is_directory(path)) {
      auto entry = reader_for_folder(plugins, path);
      if (!entry)
        throw std::runtime_error("--input " + path.string() + ": no reader reads any file in this folder");
      inputs_.push_back({path, *entry});
      return true;
    }
    if (!fs::is_regular_file(path))
      throw std::runtime_error("--input " + path.string() + ": no such file or folder");
    if (auto entry = reader_for(plugins, path)) {
      inputs_.push_back({path, *entry});
      return true;
    }
    if (from_list)
      throw std::runtime_error("--input: no reader reads " + path.string() + " (lists do not nest)");
    return false;
  };
  for (const auto& text : inputs) {
    const fs::path path(text);
    if (add(path, false)) continue;
    // Not an image: a list of paths.
    std::ifstream list(path);
    std::string line;
    while (std::getline(list, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      fs::path listed(line);
      add(listed.is_relative() ? path.parent_path() / listed : listed, true);
    }
  }
  if (inputs_.empty()) throw std::runtime_error("--input: nothing to read");
  for (const auto& input : inputs_)
    if (!loaders_.count(input.entry.stage->name)) loaders_.emplace(input.entry.stage->name, build(input));
}

Built<Reader> InputsReader::build(const Input& input) const {
  StageContext context;
  context.pipeline_dir = fs::current_path();
  context.plugin_name = input.entry.plugin->name;
  context.stage_name = input.entry.stage->name;
  context.log = logger_for("input " + input.entry.stage->name);
  const Params params = call_plugin(input.entry, [&] {
    return resolve_params(input.entry.stage->schema,
                          {{input.entry.stage->files->path_key, input.path.string()}});
  });
  return {input.entry, plugins_.create<Reader>(input.entry, params, context)};
}

std::optional<SampleInfo> InputsReader::next() {
  for (;;) {
    if (!current_) {
      if (next_input_ == inputs_.size()) return std::nullopt;
      current_ = build(inputs_[next_input_++]);
    }
    if (auto info = call_plugin(current_->entry, [&] { return current_->stage->next(); })) return info;
    current_.reset();
  }
}

Sample InputsReader::load(const SampleInfo& info) const {
  if (loaders_.size() == 1) return loaders_.begin()->second.stage->load(info);
  for (const auto& [name, loader] : loaders_)
    if (call_plugin(loader.entry, [&] { return loader.entry.stage->files->can_read(info.path); }))
      return loader.stage->load(info);
  throw SampleError(info.path, "no reader of the --input files reads it");
}

} // namespace radpipe::host
