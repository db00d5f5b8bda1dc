// `radpipe split`: enumerates a pipeline's reader and writes the listing as a labelled CSV with
// seeded, patient-level, stratified split or fold columns, which the `csv` reader reads back.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "commands/commands.hpp"

namespace radpipe::host {

struct SplitOptions {
  std::filesystem::path pipeline;
  std::filesystem::path out;         // the CSV file to write
  std::size_t folds = 0;             // k-fold when > 0
  double valid_fraction = 0.2;       // holdout otherwise
  std::optional<std::uint64_t> seed; // default: the pipeline's seed
};

int command_split(const GlobalOptions& global, const SplitOptions& options);

} // namespace radpipe::host
