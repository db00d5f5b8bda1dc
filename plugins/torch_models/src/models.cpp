#include "models.hpp"

#include "networks.hpp"
#include "weights.hpp"

#include <radpipe/error.hpp>

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/torch.h>

#include <optional>
#include <sstream>


namespace radpipe::torch_models {
namespace fs = std::filesystem;

namespace {

std::string shape_text(const torch::Tensor& tensor) {
  std::string text = "[";
  for (std::int64_t i = 0; i < tensor.dim(); ++i) text += (i ? ", " : "") + std::to_string(tensor.size(i));
  return text + "]";
}

void check_images(const torch::Tensor& images, int channels) {
  if (!images.defined() || images.dim() != 4 || images.size(1) != channels)
    throw StageError("input_channels",
                     "the model expects images [N, " + std::to_string(channels) + ", H, W], got " +
                         (images.defined() ? shape_text(images) : std::string("no tensor")) +
                         ": set input_channels to the images' channels, or convert the images in the preprocess chain");
  if (!images.is_floating_point())
    throw StageError("the model expects floating-point images, got " + std::string(images.dtype().name()) +
                     ": add a normalisation transform to the preprocess chain");
}

HeadOptions head_options(const Params& params) {
  HeadOptions head;
  head.outputs = params.integer("outputs");
  head.dropout = params.real("dropout");
  head.hidden = params.integers("hidden");
  return head;
}

int channels_of(const Params& params) { return static_cast<int>(params.integer("input_channels")); }

const char* kind_name(const Network& network) { return network.name().c_str(); }

} // namespace

// ------------------------------------------------------------------------------ NetworkModel

NetworkModel::NetworkModel(std::shared_ptr<Network> network, const Params& params, const StageContext& context)
    : network_(std::move(network)), context_(context), input_channels_(channels_of(params)),
      outputs_(static_cast<int>(params.integer("outputs"))) {
  // Learned weights from a checkpoint replace these right after construction: skip the read.
  if (params.has("weights") && !context.checkpoint_follows) load(params.path("weights"), "weights");
  freeze(*network_, params.strings("freeze"));
  network_->eval();
}

NetworkModel::~NetworkModel() = default;

void NetworkModel::add_common_parameters(Schema& schema, int default_input_channels) {
  schema.add(ParamSpec::integer("input_channels", "Channels of the input images: 1 (grey) or 3 (RGB, as ImageNet weights expect)")
                 .with_default(default_input_channels)
                 .one_of({"1", "3"}));
  schema.add(ParamSpec::integer("outputs", "Logits per image: 1 for a binary task (sigmoid), k for k classes (softmax)")
                 .with_default(1)
                 .at_least(1));
  schema.add(ParamSpec::real("dropout", "Dropout probability on the input of each linear layer of the head")
                 .with_default(ParamValue{0.0})
                 .in_range(0.0, 0.9));
  schema.add(ParamSpec::integers("hidden", "Widths of hidden fully connected layers (with ReLU) in the head; [] for one linear layer")
                 .with_default(ParamValue{std::vector<std::int64_t>{}})
                 .at_least(1));
  schema.add(ParamSpec::path("weights", "Weights loaded at construction: a radpipe checkpoint or a torch.save state_dict (torchvision's), matched by name")
                 .optional()
                 .existing());
  schema.add(ParamSpec::strings("freeze", "Parameter-name prefixes to freeze (requires_grad = false), e.g. [\"conv1\", \"layer1\"]")
                 .with_default(ParamValue{std::vector<std::string>{}}));
}

ModelOutput NetworkModel::forward(const torch::Tensor& images) {
  check_images(images, input_channels_);
  const bool folded = network_->folded() && !network_->is_training();
  NetworkOutput output = network_->forward(folded ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images);
  return {std::move(output.logits), std::move(output.features)};
}

void NetworkModel::set_form(ModelForm form) {
  form_ = form;
  if (form == ModelForm::Inference) network_->eval();
  network_->fold(form == ModelForm::Inference);
}

torch::nn::Module* NetworkModel::trainable() { return network_.get(); }

void NetworkModel::to(const torch::Device& device) {
  network_->to(device);
  device_ = device;
  if (network_->folded()) network_->fold(true); // the folded copies move too
}

void NetworkModel::set_training(bool on) {
  if (on && form_ == ModelForm::Inference) set_form(ModelForm::Trainable);
  network_->train(on);
}

void NetworkModel::save_weights(const fs::path& file) const {
  try {
    write_radpipe_weights(*network_, file);
  } catch (const c10::Error& error) {
    throw StageError("cannot write weights to " + file.string() + ": " + error.what_without_backtrace());
  } catch (const std::exception& error) { // a full disk, a missing folder
    throw StageError("cannot write weights to " + file.string() + ": " + error.what());
  }
}

void NetworkModel::load_weights(const fs::path& file) {
  load(file, "weights");
  if (form_ == ModelForm::Inference) network_->fold(true); // from the new weights
}

void NetworkModel::load(const fs::path& file, const std::string& key) {
  LoadedWeights weights = read_weights(file, key);
  if (weights.format == WeightsFormat::TorchScript)
    throw StageError(key, file.string() + " is a TorchScript model, not weights: run it with stage = \"torchscript\" and "
                                          "file = \"" + file.string() + "\", or load the state_dict it was made from");
  const std::size_t offered = weights.tensors.size();
  CopyReport report = copy_by_name(*network_, weights.tensors, network_->first_conv_weight());
  if (report.loaded == 0)
    throw StageError(key, "none of the " + std::to_string(offered) + " tensors in " + file.string() + " fits this " +
                              kind_name(*network_) + " (is it the same architecture and depth?): " + report.describe());
  for (const auto& name : report.adapted)
    context_.info("weights " + file.string() + ": summed " + name + " over its 3 input channels for 1-channel images");
  if (!report.complete())
    context_.warn("weights " + file.string() + ": loaded " + std::to_string(report.loaded) + " of " +
                  std::to_string(offered) + " tensors; " + report.describe());
  else
    context_.debug("weights " + file.string() + ": loaded all " + std::to_string(report.loaded) + " tensors");
}

// ------------------------------------------------------------------------------------ stages

CnnModel::CnnModel(const Params& params, const StageContext& context)
    : NetworkModel(make_cnn(CnnShape{.blocks = static_cast<int>(params.integer("blocks")),
                                     .width = params.integer("width"),
                                     .convolutions_per_block = static_cast<int>(params.integer("convs"))},
                            channels_of(params), head_options(params)),
                   params, context) {}

Schema CnnModel::schema() {
  Schema schema;
  schema.add(ParamSpec::integer("blocks", "Convolution blocks (conv3x3, BatchNorm, ReLU, 2x2 max pooling)").with_default(4).in_range(2, 6));
  schema.add(ParamSpec::integer("width", "Channels of the first block; each further block doubles them, up to 512")
                 .with_default(32)
                 .in_range(1, 512));
  schema.add(ParamSpec::integer("convs", "Convolutions (conv3x3, BatchNorm, ReLU) in each block after the first, before its "
                                         "pooling; the first block, at full resolution, always has one")
                 .with_default(1)
                 .in_range(1, 3));
  add_common_parameters(schema, 1);
  return schema;
}

ResNetModel::ResNetModel(const Params& params, const StageContext& context)
    : NetworkModel(make_resnet(static_cast<int>(params.integer("depth")), channels_of(params), head_options(params)), params,
                   context) {}

Schema ResNetModel::schema() {
  Schema schema;
  schema.add(ParamSpec::integer("depth", "ResNet depth, with torchvision's layout and names").with_default(18).one_of({"18", "34", "50"}));
  add_common_parameters(schema, 3);
  return schema;
}

DenseNetModel::DenseNetModel(const Params& params, const StageContext& context)
    : NetworkModel(make_densenet(static_cast<int>(params.integer("depth")), channels_of(params), head_options(params)),
                   params, context) {}

Schema DenseNetModel::schema() {
  Schema schema;
  schema.add(ParamSpec::integer("depth", "DenseNet depth, with torchvision's layout and names (growth 32)")
                 .with_default(121)
                 .one_of({"121", "169", "201"}));
  add_common_parameters(schema, 3);
  return schema;
}

// -------------------------------------------------------------------------- TorchScriptModel

struct TorchScriptModel::Script {
  torch::jit::Module module;
  std::optional<torch::jit::Module> frozen; // the inference form, built by set_form
};

namespace {

torch::jit::Module load_script(const fs::path& file, const std::string& key, const torch::Device& device) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(file.string(), device);
  } catch (const c10::Error& error) {
    throw StageError(key, "cannot load a TorchScript model from " + file.string() + ": " + error.what_without_backtrace() +
                              " (a state_dict or radpipe checkpoint is weights for the cnn, resnet or densenet stage)");
  }
  if (!module.find_method("forward"))
    throw StageError(key, file.string() + " has no forward method: it is a radpipe weights file; load it with "
                                          "stage = \"cnn\", \"resnet\" or \"densenet\" and weights = \"" + file.string() + "\"");
  return module;
}

} // namespace

TorchScriptModel::TorchScriptModel(const Params& params, const StageContext& /*context*/)
    : script_(std::make_unique<Script>(Script{load_script(params.path("file"), "file", torch::kCPU), std::nullopt})),
      input_channels_(channels_of(params)), outputs_(static_cast<int>(params.integer("outputs"))) {
  script_->module.eval();
}

TorchScriptModel::~TorchScriptModel() = default;

Schema TorchScriptModel::schema() {
  Schema schema;
  schema.add(ParamSpec::path("file", "The TorchScript model (torch.jit.save of a scripted or traced module)").existing());
  schema.add(ParamSpec::integer("input_channels", "Channels of the images the model takes: 1 or 3").with_default(3).one_of({"1", "3"}));
  schema.add(ParamSpec::integer("outputs", "Logits the model returns per image: 1 for a binary task, k for k classes")
                 .with_default(1)
                 .at_least(1));
  return schema;
}

ModelOutput TorchScriptModel::forward(const torch::Tensor& images) {
  check_images(images, input_channels_);
  // Inference only: nothing can be trained or explained through a TorchScript model here.
  torch::NoGradGuard no_grad;
  auto& module = script_->frozen ? *script_->frozen : script_->module;
  const c10::IValue result = module.forward({images});
  ModelOutput output;
  if (result.isTensor()) {
    output.logits = result.toTensor();
  } else if (result.isTuple() && result.toTupleRef().elements().size() >= 2 &&
             result.toTupleRef().elements()[0].isTensor() && result.toTupleRef().elements()[1].isTensor()) {
    output.logits = result.toTupleRef().elements()[0].toTensor();
    output.features = result.toTupleRef().elements()[1].toTensor();
  } else {
    throw StageError("file", std::string("the TorchScript model returned a ") + result.tagKind() +
                                 "; expected the logits, or a tuple (logits, feature map)");
  }
  if (output.logits.dim() == 1 && outputs_ == 1) output.logits = output.logits.unsqueeze(1);
  if (output.logits.dim() != 2 || output.logits.size(0) != images.size(0) || output.logits.size(1) != outputs_)
    throw StageError("outputs", "the TorchScript model returned logits " + shape_text(output.logits) + " for " +
                                    std::to_string(images.size(0)) + " images, expected [" + std::to_string(images.size(0)) +
                                    ", " + std::to_string(outputs_) + "]: set outputs to the model's number of logits");
  return output;
}

void TorchScriptModel::to(const torch::Device& device) {
  script_->module.to(device);
  device_ = device;
  refreeze();
}

void TorchScriptModel::set_training(bool on) {
  if (on) form_ = ModelForm::Trainable;
  script_->module.train(on);
  refreeze();
}

void TorchScriptModel::set_form(ModelForm form) {
  form_ = form;
  if (form == ModelForm::Inference) script_->module.eval();
  refreeze();
}

void TorchScriptModel::refreeze() {
  script_->frozen.reset();
  if (form_ != ModelForm::Inference) return;
  try {
    // freeze inlines the weights as constants and folds BatchNorm into convolutions;
    // optimize_for_inference then fuses operators and moves convolutions to oneDNN (MKL-DNN).
    torch::jit::Module frozen = torch::jit::freeze(script_->module);
    script_->frozen = torch::jit::optimize_for_inference(frozen);
  } catch (const c10::Error& error) {
    throw StageError("file", std::string("cannot freeze the TorchScript model for inference (set optimize = false in [pipeline] "
                                         "to run it as it is): ") + error.what_without_backtrace());
  }
}

void TorchScriptModel::save_weights(const fs::path& file) const {
  try {
    std::ostringstream bytes;
    script_->module.save(bytes);
    write_bytes_atomically(file, bytes.str());
  } catch (const c10::Error& error) {
    throw StageError("cannot write the TorchScript model to " + file.string() + ": " + error.what_without_backtrace());
  } catch (const std::exception& error) { // a full disk, a missing folder
    throw StageError("cannot write the TorchScript model to " + file.string() + ": " + error.what());
  }
}

void TorchScriptModel::load_weights(const fs::path& file) {
  torch::jit::Module module = load_script(file, "file", device_);
  module.train(script_->module.is_training());
  script_->module = std::move(module);
  refreeze();
}

} // namespace radpipe::torch_models
