// `predict --input PATH...`: image files, folders and list files (one path per line, relative to
// the list's folder; empty lines and `#` comments skipped), read by whichever reader plugin says it
// reads them (StageDescriptor::files), one input after another, instead of the pipeline's [reader].
#pragma once

#include "loader/plugin_host.hpp"
#include "runtime/pipeline.hpp"

#include <radpipe/stages.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace radpipe::host {

class InputsReader : public Reader {
public:
  // Throws std::runtime_error naming an input that no reader reads or that does not exist.
  InputsReader(const PluginHost& plugins, const std::vector<std::string>& inputs);

  std::optional<SampleInfo> next() override;
  // Decodes with an instance of the reader stage that listed the entry: readers that read single
  // files decode an entry from its path alone.
  Sample load(const SampleInfo& info) const override;

  // The stage entry of the first input's reader (for the host's plugin error handling).
  const StageEntry& first_entry() const { return inputs_.front().entry; }

private:
  struct Input {
    std::filesystem::path path;
    StageEntry entry;
  };
  Built<Reader> build(const Input& input) const;

  const PluginHost& plugins_;
  std::vector<Input> inputs_;
  std::size_t next_input_ = 0;
  std::optional<Built<Reader>> current_;
  std::map<std::string, Built<Reader>> loaders_; // by stage name; built up front, read-only while streaming
};

} // namespace radpipe::host
