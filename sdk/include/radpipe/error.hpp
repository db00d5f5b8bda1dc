// radpipe SDK: errors a stage throws. The host catches everything a plugin throws and reports it
// as `plugin NAME, stage KIND NAME, key KEY: message`; a StageError supplies the key.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace radpipe {

class StageError : public std::runtime_error {
public:
  // `key` names the parameter at fault, or is empty when the error concerns no single key.
  StageError(std::string key, const std::string& message)
      : std::runtime_error(message), key_(std::move(key)) {}
  explicit StageError(const std::string& message) : std::runtime_error(message) {}

  const std::string& key() const noexcept { return key_; }

private:
  std::string key_;
};

// A sample that cannot be read or processed (corrupt file, wrong format). Reported with the
// sample's path; the pipeline's error policy decides whether the run skips it or stops.
class SampleError : public std::runtime_error {
public:
  SampleError(std::string path, const std::string& message)
      : std::runtime_error(message), path_(std::move(path)) {}

  const std::string& path() const noexcept { return path_; }

private:
  std::string path_;
};

} // namespace radpipe
