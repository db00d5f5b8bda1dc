/// @file
/// @brief Errors a stage throws, and what each does to a run.
///
/// The host catches everything a plugin throws. A StageError reports a configuration problem as
/// `plugin NAME, stage KIND NAME, key KEY: message`; a SampleError fails one image only, which the
/// pipeline's `on_error` policy skips or stops at. Any other exception from a per-image method
/// (Reader::load, Transform::apply) fails that image like a SampleError; from any other method it
/// stops the run. docs/plugins.md, "Errors and what each does to a run", has the whole table.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace radpipe {

/// A configuration problem: a parameter value that cannot work, a missing file a parameter names,
/// a stage used before it was fitted. It stops the run, whatever `on_error` says.
class StageError : public std::runtime_error {
public:
  /// `key` names the parameter at fault (the host then adds where the pipeline file sets it), or
  /// is empty when the error concerns no single key.
  StageError(std::string key, const std::string& message)
      : std::runtime_error(message), key_(std::move(key)) {}
  /// An error that concerns no single parameter.
  explicit StageError(const std::string& message) : std::runtime_error(message) {}

  /// The parameter at fault, or empty.
  const std::string& key() const noexcept { return key_; }

private:
  std::string key_;
};

/// A sample that cannot be read or processed (corrupt file, wrong pixel format). It fails that
/// sample only: the host reports it with the sample's path, plugin and stage, and the pipeline's
/// `on_error` decides whether the run skips it (counting it in run.json) or stops.
class SampleError : public std::runtime_error {
public:
  /// `path` is the sample's `info.path` (empty: the host fills in the sample it was working on).
  SampleError(std::string path, const std::string& message)
      : std::runtime_error(message), path_(std::move(path)) {}

  /// Where the sample's pixels come from.
  const std::string& path() const noexcept { return path_; }

private:
  std::string path_;
};

} // namespace radpipe
