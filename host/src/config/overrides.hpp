// `--set KEY=VALUE`: changes to a pipeline file given on the command line, applied to the parsed
// TOML document before validation, so that an override is checked exactly like the file.
//
//   --set train.epochs=1                     a key of a table (created when missing)
//   --set 'preprocess[2].size=[64,64]'       [N] picks the N-th [[preprocess]] step (1-based, as
//                                            the validator names them); N = count + 1 appends one
//   --set route.hand.model.depth=18          tables along the way are created when missing
//   --set 'reader={stage="study_folder", folder="x"}'   a whole table, as a TOML inline table
//   --set model.device=cpu                   a value that is not TOML is taken as a string
//
// The value is a TOML value; relative paths in it resolve against the pipeline file's folder, as
// in the file. Each override's nodes carry the override as their source, so that a problem the
// validator finds in one is reported at the override (`--set train.epochs=0: error: ...`), with
// the place of the key it replaced.
#pragma once

#include "config/diagnostics.hpp"

#include <toml++/toml.h>

#include <filesystem>
#include <string>
#include <vector>

namespace radpipe::host {

struct PipelineConfig;

class PipelineOverrides {
public:
  explicit PipelineOverrides(std::vector<std::string> texts) : texts_(std::move(texts)) {}

  // Applies every override to `document` in order; an override that cannot be applied (no '=',
  // a malformed key, indexing what is not a list of tables) becomes a diagnostic at the override.
  std::vector<Diagnostic> apply(toml::table& document, const std::filesystem::path& file);

  // Moves the places the validator gave to override nodes onto the override itself.
  void relocate(std::vector<Diagnostic>& diagnostics) const;
  void relocate(PipelineConfig& config) const;

  const std::vector<std::string>& texts() const { return texts_; }

private:
  // How a problem inside an override is placed: at "--set TEXT", mentioning the key it replaced.
  struct Origin {
    std::string label;   // "--set train.epochs=0", also the source path of the override's nodes
    SourceLocation replaced; // where the file set the key before; file empty when it did not
  };
  const Origin* origin_of(const SourceLocation& where) const;
  void relocate(SourceLocation& where) const;

  std::vector<std::string> texts_;
  std::vector<Origin> origins_;
};

} // namespace radpipe::host
