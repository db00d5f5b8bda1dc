// radpipe SDK: stages that run LibTorch. Only plugins that define models or explainers include
// this header; it pulls in ATen and torch::nn, which are slow to compile.
#pragma once

#include <radpipe/stages.hpp>

#include <torch/nn/module.h>

#include <filesystem>
#include <vector>

namespace radpipe {

// A batch as the host hands it to models: images [N,C,H,W] float32 on the model's device, and
// the metadata of each row.
struct Batch {
  torch::Tensor images;
  std::vector<SampleInfo> infos;
};

struct ModelOutput {
  torch::Tensor logits;   // [N, num_outputs()]
  torch::Tensor features; // [N, C, h, w]: the last convolutional feature map, for explainers
};

// The form a model runs in. Trainable (the form after construction): the modules as they are
// trained and as explainers differentiate them. Inference: scoring only, without gradients and in
// eval mode; the model may fold BatchNorm into convolutions, freeze a TorchScript graph and change
// memory layouts, as long as its outputs agree with the trainable form's within float rounding.
enum class ModelForm { Trainable, Inference };

class Model : public Stage {
public:
  static constexpr StageKind kind = StageKind::Model;
  ~Model() override;

  virtual int input_channels() const = 0; // 1 or 3
  virtual int num_outputs() const = 0;    // 1: binary (sigmoid of the logit); k: classes (softmax)
  virtual ModelOutput forward(const torch::Tensor& images) = 0;

  // The module to optimise, freeze or inspect; nullptr for inference-only models (TorchScript).
  virtual torch::nn::Module* trainable() = 0;
  virtual void to(const torch::Device& device) = 0;
  virtual torch::Device device() const = 0;
  virtual void set_training(bool on) = 0;

  // Weights in radpipe's own format, a torch::serialize archive of the named parameters and
  // buffers. load_weights also reads whatever other formats the model stage documents.
  virtual void save_weights(const std::filesystem::path& file) const = 0;
  virtual void load_weights(const std::filesystem::path& file) = 0;

  // Switches the form the next forward calls run in. The host asks for Inference before it scores
  // and for Trainable before it trains or explains; set_training(true) returns a model to the trainable
  // form; load_weights keeps the form. The default: one form for everything.
  virtual void set_form(ModelForm /*form*/) {}
};

// Explains a model's decision as a heatmap per image (Grad-CAM and friends).
class Explainer : public Stage {
public:
  static constexpr StageKind kind = StageKind::Explainer;
  ~Explainer() override;

  // Heatmaps [N, H, W] in [0, 1] at the input's resolution, for class `target` (0 for binary).
  virtual torch::Tensor explain(Model& model, const torch::Tensor& images, int target) = 0;
};

} // namespace radpipe
