// The Model stages of the torch_models plugin: cnn, resnet, densenet (trainable, torchvision
// names) and torchscript (inference only).
#pragma once

#include <radpipe/model.hpp>
#include <radpipe/schema.hpp>

#include <memory>

namespace radpipe::torch_models {

class Network;

// What cnn, resnet and densenet share: a Network, the head and freeze options, weights loading.
class NetworkModel : public radpipe::Model {
public:
  ~NetworkModel() override;

  int input_channels() const override { return input_channels_; }
  int num_outputs() const override { return outputs_; }
  ModelOutput forward(const torch::Tensor& images) override;
  torch::nn::Module* trainable() override;
  void to(const torch::Device& device) override;
  torch::Device device() const override { return device_; }
  void set_training(bool on) override;

  // Writes radpipe's own format. load_weights also reads torch.save state_dicts (torchvision's
  // among them), by name; see weights.hpp.
  void save_weights(const std::filesystem::path& file) const override;
  void load_weights(const std::filesystem::path& file) override;
  // Inference: BatchNorm folded into the convolutions before it, channels-last weights and inputs.
  void set_form(ModelForm form) override;

protected:
  // Applies the common parameters: `weights` (loaded now) and `freeze`.
  NetworkModel(std::shared_ptr<Network> network, const Params& params, const StageContext& context);

  // Declares input_channels (with this stage's default), outputs, dropout, hidden, weights, freeze.
  static void add_common_parameters(Schema& schema, int default_input_channels);

private:
  void load(const std::filesystem::path& file, const std::string& key);

  std::shared_ptr<Network> network_;
  ModelForm form_ = ModelForm::Trainable;
  StageContext context_;
  int input_channels_;
  int outputs_;
  torch::Device device_{torch::kCPU};
};

class CnnModel final : public NetworkModel {
public:
  CnnModel(const Params& params, const StageContext& context);
  static Schema schema();
};

class ResNetModel final : public NetworkModel {
public:
  ResNetModel(const Params& params, const StageContext& context);
  static Schema schema();
};

class DenseNetModel final : public NetworkModel {
public:
  DenseNetModel(const Params& params, const StageContext& context);
  static Schema schema();
};

// A TorchScript model (torch.jit.script or torch.jit.trace, saved with torch.jit.save). Its
// forward returns the logits, or a tuple whose first two items are the logits and the feature
// map; with logits only, ModelOutput::features is undefined.
class TorchScriptModel final : public radpipe::Model {
public:
  TorchScriptModel(const Params& params, const StageContext& context);
  ~TorchScriptModel() override;
  static Schema schema();

  int input_channels() const override { return input_channels_; }
  int num_outputs() const override { return outputs_; }
  ModelOutput forward(const torch::Tensor& images) override;
  torch::nn::Module* trainable() override { return nullptr; }
  void to(const torch::Device& device) override;
  torch::Device device() const override { return device_; }
  void set_training(bool on) override;
  // Writes the TorchScript model itself; load_weights replaces it with another TorchScript file.
  void save_weights(const std::filesystem::path& file) const override;
  void load_weights(const std::filesystem::path& file) override;
  // Inference: a frozen copy (torch::jit::freeze, then optimize_for_inference) runs the forward.
  void set_form(ModelForm form) override;

private:
  void refreeze();

  struct Script;
  std::unique_ptr<Script> script_;
  ModelForm form_ = ModelForm::Trainable;
  int input_channels_;
  int outputs_;
  torch::Device device_{torch::kCPU};
};

} // namespace radpipe::torch_models
