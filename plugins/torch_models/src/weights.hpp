// Weight files: radpipe's own archives, torch.save state_dicts from Python, and copying named
// tensors into a module. Every failure is a radpipe::StageError naming the parameter `key` and
// the file.
#pragma once

#include <torch/nn/module.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace radpipe::torch_models {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

enum class WeightsFormat {
  Radpipe,     // torch::serialize archive of a module, as save_weights writes it
  StateDict,   // a pickled dict of named tensors, as torch.save(model.state_dict(), file) writes it
  TorchScript, // a scripted or traced model: the torchscript stage's job, not weights
};

struct LoadedWeights {
  WeightsFormat format = WeightsFormat::Radpipe;
  NamedTensors tensors; // on the CPU; empty for TorchScript
};

// Reads `file` in whichever format it is. A state_dict may also be nested in a checkpoint dict
// under "state_dict", "model_state_dict", "model", "net" or "network"; the `module.` prefix that
// DataParallel adds is removed from every name.
LoadedWeights read_weights(const std::filesystem::path& file, const std::string& key);

// Writes `bytes` to a temporary file beside `file`, then renames it to `file`, so that a crash
// never leaves a truncated file under the final name. Creates the folder if needed. Throws
// std::runtime_error with the system's reason ("No space left on device") when the write fails.
// Weights are serialised to memory first and written here because LibTorch's own file writer
// aborts the process on a full disk (its destructor throws while an error is in flight).
void write_bytes_atomically(const std::filesystem::path& file, std::string_view bytes);

// Writes `module` in radpipe's own format, atomically (a temporary file renamed into place).
void write_radpipe_weights(const torch::nn::Module& module, const std::filesystem::path& file);

// Writes named tensors as a state_dict that Python's torch.load and read_weights both read,
// atomically.
void write_state_dict(const NamedTensors& tensors, const std::filesystem::path& file);

// What copy_by_name did, for the warning the stage logs.
struct CopyReport {
  std::size_t loaded = 0;
  std::vector<std::string> adapted;    // 3-channel first conv summed into a 1-channel one
  std::vector<std::string> mismatched; // "name (file [a, b], model [c, d])": skipped
  std::vector<std::string> unexpected; // in the file but not in the module: skipped
  std::vector<std::string> missing;    // in the module, no tensor of that name in the file: left as they were

  bool complete() const { return mismatched.empty() && unexpected.empty() && missing.empty(); }
  // One paragraph listing what was skipped or left, each list cut after a few names.
  std::string describe() const;
};

// Copies tensors into the module's parameters and buffers of the same name and shape (converting
// dtype and device). When the module's `first_conv_weight` takes one input channel and the file's
// takes three, the file's weight is summed over its input channels.
CopyReport copy_by_name(torch::nn::Module& module, const NamedTensors& tensors, const std::string& first_conv_weight);

// Sets requires_grad = false on every parameter whose name is one of `prefixes` or starts with a
// prefix followed by a dot. Throws StageError("freeze") for a prefix that matches nothing, listing
// the module's top-level names.
void freeze(torch::nn::Module& module, const std::vector<std::string>& prefixes);

} // namespace radpipe::torch_models
