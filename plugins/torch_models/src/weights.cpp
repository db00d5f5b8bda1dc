#include "weights.hpp"

#include "pickle_rewrite.hpp"

#include <radpipe/error.hpp>

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/unpickler.h>
#include <torch/torch.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace radpipe::torch_models {
namespace fs = std::filesystem;

namespace {

// c10::Error::what() carries a C++ backtrace that means nothing to a pipeline author.
std::string message_of(const std::exception& error) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error)) return c10_error->what_without_backtrace();
  return error.what();
}

std::string shape_text(c10::IntArrayRef sizes) {
  std::string text = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) text += (i ? ", " : "") + std::to_string(sizes[i]);
  return text + "]";
}

std::string list_text(const std::vector<std::string>& names, std::size_t shown = 8) {
  std::string text;
  for (std::size_t i = 0; i < names.size() && i < shown; ++i) text += (i ? ", " : "") + names[i];
  if (names.size() > shown) text += " and " + std::to_string(names.size() - shown) + " more";
  return text;
}

// ------------------------------------------------------------------ torch.save pickles

// Container type tags (`Dict[str, Tensor]`, written by LibTorch's own pickler) resolve to their
// types; any other class means the file pickles a Python object rather than a state_dict.
c10::StrongTypePtr resolve_type(const c10::QualifiedName& name) {
  const std::string text = name.qualifiedName();
  c10::TypePtr type;
  try {
    type = torch::jit::Unpickler::defaultTypeParser(text);
  } catch (const std::exception&) {
    type = nullptr;
  }
  if (type && type->kind() != c10::TypeKind::ClassType) return c10::StrongTypePtr(nullptr, type);
  throw std::runtime_error("it pickles a Python object of class '" + text +
                           "' (was it written with torch.save(model)?); only a state_dict of named tensors can be "
                           "read: in Python, write it with torch.save(model.state_dict(), path)");
}

NamedTensors tensors_of(const c10::impl::GenericDict& dict) {
  NamedTensors tensors;
  for (const auto& entry : dict)
    if (entry.key().isString() && entry.value().isTensor())
      tensors.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  return tensors;
}

NamedTensors read_pickled_state_dict(caffe2::serialize::PyTorchStreamReader& reader) {
  auto [pickle_data, pickle_size] = reader.getRecord("data.pkl");
  const std::string pickle = normalise_torch_save_pickle(
      std::string_view(static_cast<const char*>(pickle_data.get()), pickle_size));

  std::size_t position = 0;
  std::function<std::size_t(char*, std::size_t)> read_bytes = [&](char* buffer, std::size_t wanted) {
    const std::size_t count = std::min(wanted, pickle.size() - position);
    std::memcpy(buffer, pickle.data() + position, count);
    position += count;
    return count;
  };
  // Tensors are `data/<key>` records, as torch::jit::readArchiveAndTensors reads them.
  std::function<at::DataPtr(const std::string&)> read_record = [&](const std::string& record) {
    return std::get<0>(reader.getRecord("data/" + record));
  };
  // This constructor has the same parameters in LibTorch 1.13 and 2.x; the device converts to
  // c10::optional in one and std::optional in the other.
  torch::jit::Unpickler unpickler(read_bytes, resolve_type, torch::jit::ObjLoader{}, read_record, at::Device(at::kCPU));
  unpickler.set_version(reader.version());
  const c10::IValue root = unpickler.parse_ivalue();

  if (!root.isGenericDict())
    throw std::runtime_error(std::string("it holds a ") + root.tagKind() + ", not a dict of named tensors");
  const auto dict = root.toGenericDict();
  NamedTensors tensors = tensors_of(dict);
  if (!tensors.empty()) return tensors;
  // A training checkpoint: the state_dict sits beside the epoch, the optimizer's state, ...
  for (const char* nested : {"state_dict", "model_state_dict", "model", "net", "network"}) {
    auto found = dict.find(c10::IValue(std::string(nested)));
    if (found != dict.end() && found->value().isGenericDict()) {
      tensors = tensors_of(found->value().toGenericDict());
      if (!tensors.empty()) return tensors;
    }
  }
  throw std::runtime_error("it holds a dict without tensors, and none under \"state_dict\", \"model_state_dict\", "
                           "\"model\", \"net\" or \"network\"");
}

NamedTensors read_radpipe_archive(const torch::jit::Module& archive) {
  NamedTensors tensors;
  for (const auto& parameter : archive.named_parameters(/*recurse=*/true))
    tensors.emplace_back(parameter.name, parameter.value);
  for (const auto& buffer : archive.named_buffers(/*recurse=*/true)) tensors.emplace_back(buffer.name, buffer.value);
  return tensors;
}

bool starts_like_legacy_pickle(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::array<char, 2> head{};
  return in.read(head.data(), head.size()) && static_cast<std::uint8_t>(head[0]) == 0x80;
}

constexpr std::string_view module_prefix = "module.";

// torchvision's own DenseNet downloads predate its current names: "denselayer1.norm.1.weight"
// for "denselayer1.norm1.weight" (torchvision renames them the same way when it loads them).
void modernise_densenet_name(std::string& name) {
  if (name.find(".denselayer") == std::string::npos) return;
  for (const std::string part : {"norm", "relu", "conv"})
    for (const char digit : {'1', '2'}) {
      const std::string legacy = "." + part + "." + digit + ".";
      if (const auto at = name.find(legacy); at != std::string::npos)
        name.replace(at, legacy.size(), "." + part + digit + ".");
    }
}

} // namespace

void write_bytes_atomically(const fs::path& file, std::string_view bytes) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  // The process id keeps two processes writing the same file from sharing a temporary.
  const fs::path temporary = file.string() + ".tmp-" + std::to_string(::getpid());
  try {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot create " + temporary.string() + ": " + std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + temporary.string() + ": " + std::strerror(errno));
    out.close();
    if (!out) throw std::runtime_error("cannot write " + temporary.string() + ": " + std::strerror(errno));
    fs::rename(temporary, file);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

LoadedWeights read_weights(const fs::path& file, const std::string& key) {
  std::error_code error;
  if (!fs::is_regular_file(file, error))
    throw StageError(key, "weights file " + file.string() + " does not exist (or is not a file)");

  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file.string());
  } catch (const std::exception& failure) {
    if (starts_like_legacy_pickle(file))
      throw StageError(key, file.string() + " is in the legacy torch.save format of PyTorch before 1.6, which LibTorch "
                                            "cannot read: in Python >= 1.6, re-save it with "
                                            "torch.save(torch.load(path), path)");
    throw StageError(key, file.string() + " is not a PyTorch weights file (" + message_of(failure) +
                              "): expected a radpipe checkpoint or a torch.save state_dict");
  }

  LoadedWeights loaded;
  try {
    if (reader->hasRecord("constants.pkl")) {
      // A TorchScript archive: radpipe's own format is one too, but has no methods.
      const torch::jit::Module archive = torch::jit::load(file.string(), torch::Device(torch::kCPU));
      if (archive.find_method("forward")) {
        loaded.format = WeightsFormat::TorchScript;
        return loaded;
      }
      loaded.format = WeightsFormat::Radpipe;
      loaded.tensors = read_radpipe_archive(archive);
    } else if (reader->hasRecord("data.pkl")) {
      loaded.format = WeightsFormat::StateDict;
      loaded.tensors = read_pickled_state_dict(*reader);
    } else {
      throw std::runtime_error("the archive has neither data.pkl nor constants.pkl");
    }
  } catch (const StageError&) {
    throw;
  } catch (const std::exception& failure) {
    throw StageError(key, "cannot read weights from " + file.string() + ": " + message_of(failure));
  }
  for (auto& [name, tensor] : loaded.tensors) {
    if (name.starts_with(module_prefix)) name.erase(0, module_prefix.size());
    modernise_densenet_name(name);
  }
  return loaded;
}

void write_radpipe_weights(const torch::nn::Module& module, const fs::path& file) {
  torch::serialize::OutputArchive archive;
  module.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_bytes_atomically(file, bytes.str());
}

void write_state_dict(const NamedTensors& tensors, const fs::path& file) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor.detach().to(torch::kCPU));
  const std::vector<char> bytes = torch::jit::pickle_save(dict);
  write_bytes_atomically(file, std::string_view(bytes.data(), bytes.size()));
}

std::string CopyReport::describe() const {
  std::string text;
  auto add = [&](const std::string& what, const std::vector<std::string>& names) {
    if (names.empty()) return;
    if (!text.empty()) text += "; ";
    text += what + " (" + std::to_string(names.size()) + "): " + list_text(names);
  };
  add("skipped, shape differs", mismatched);
  add("skipped, not in the model", unexpected);
  add("not in the file, left as initialised", missing);
  return text;
}

CopyReport copy_by_name(torch::nn::Module& module, const NamedTensors& tensors, const std::string& first_conv_weight) {
  std::map<std::string, torch::Tensor> targets;
  for (const auto& parameter : module.named_parameters(/*recurse=*/true)) targets.emplace(parameter.key(), parameter.value());
  for (const auto& buffer : module.named_buffers(/*recurse=*/true)) targets.emplace(buffer.key(), buffer.value());

  CopyReport report;
  std::set<std::string> in_file;
  torch::NoGradGuard no_grad;
  for (const auto& [name, source] : tensors) {
    auto target = targets.find(name);
    if (target == targets.end()) {
      report.unexpected.push_back(name);
      continue;
    }
    in_file.insert(name);
    torch::Tensor value = source;
    auto& destination = target->second;
    if (value.sizes() != destination.sizes()) {
      // The 1-channel adaptation of ImageNet weights: a grey image fed to all three input
      // channels gives the same response as one channel with the summed kernel.
      const bool summable = name == first_conv_weight && value.dim() == 4 && destination.dim() == 4 &&
                            value.size(1) == 3 && destination.size(1) == 1 && value.size(0) == destination.size(0) &&
                            value.size(2) == destination.size(2) && value.size(3) == destination.size(3);
      if (!summable) {
        report.mismatched.push_back(name + " (file " + shape_text(value.sizes()) + ", model " +
                                    shape_text(destination.sizes()) + ")");
        continue;
      }
      value = value.sum(1, /*keepdim=*/true);
      report.adapted.push_back(name);
    }
    destination.copy_(value);
    ++report.loaded;
  }
  for (const auto& [name, tensor] : targets)
    // Checkpoints from before BatchNorm counted its batches lack these; their absence is harmless.
    if (!in_file.contains(name) && !name.ends_with("num_batches_tracked")) report.missing.push_back(name);
  return report;
}

void freeze(torch::nn::Module& module, const std::vector<std::string>& prefixes) {
  auto parameters = module.named_parameters(/*recurse=*/true);
  for (const auto& prefix : prefixes) {
    bool matched = false;
    for (auto& parameter : parameters) {
      const std::string& name = parameter.key();
      if (name == prefix || (name.starts_with(prefix) && name.size() > prefix.size() && name[prefix.size()] == '.')) {
        parameter.value().set_requires_grad(false);
        matched = true;
      }
    }
    if (!matched) {
      std::vector<std::string> top_level;
      for (const auto& child : module.named_children()) top_level.push_back(child.key());
      for (const auto& parameter : module.named_parameters(/*recurse=*/false)) top_level.push_back(parameter.key());
      throw StageError("freeze", "prefix \"" + prefix + "\" matches no parameter; names start with " +
                                     list_text(top_level, top_level.size()) +
                                     " followed by a dot and the submodule path (e.g. \"" +
                                     (top_level.empty() ? std::string("conv1") : top_level.front()) + "\")");
    }
  }
}

} // namespace radpipe::torch_models
