/// @file
/// @brief Stages that run LibTorch: Model and Explainer.
///
/// Only plugins that define models or explainers include this header; it pulls in ATen and
/// torch::nn, which are slow to compile. A model's or explainer's methods are called from the
/// thread that runs its chain, one at a time.
#pragma once

#include <radpipe/stages.hpp>

#include <torch/nn/module.h>

#include <filesystem>
#include <vector>

namespace radpipe {

/// A batch as the host hands it to models: images [N,C,H,W] float32 on the model's device, and
/// the metadata of each row.
struct Batch {
  torch::Tensor images;          ///< [N, C, H, W], float32, on the model's device.
  std::vector<SampleInfo> infos; ///< The metadata of each row.
};

/// What Model::forward returns.
struct ModelOutput {
  torch::Tensor logits;   ///< [N, num_outputs()].
  torch::Tensor features; ///< [N, C, h, w]: the last convolutional feature map, for explainers.
};

/// The form a model runs in. Trainable (the form after construction): the modules as they are
/// trained and as explainers differentiate them. Inference: scoring only, without gradients and in
/// eval mode; the model may fold BatchNorm into convolutions, freeze a TorchScript graph and change
/// memory layouts, as long as its outputs agree with the trainable form's within float rounding.
enum class ModelForm {
  Trainable, ///< The form after construction: as trained, and as explainers differentiate it.
  Inference  ///< Scoring only: no gradients, eval mode, possibly folded, frozen or channels-last.
};

/// Scores images: a network, trainable or inference-only.
class Model : public Stage {
public:
  static constexpr StageKind kind = StageKind::Model; ///< What PluginRegistrar::add registers it as.
  ~Model() override;

  /// The channels the model expects: 1 or 3.
  virtual int input_channels() const = 0;
  /// 1: binary (sigmoid of the logit); k: classes (softmax).
  virtual int num_outputs() const = 0;
  /// Logits and features of a batch [N, input_channels(), H, W] on device().
  virtual ModelOutput forward(const torch::Tensor& images) = 0;

  /// The module to optimise, freeze or inspect; nullptr for inference-only models (TorchScript).
  virtual torch::nn::Module* trainable() = 0;
  /// Moves the model to `device`.
  virtual void to(const torch::Device& device) = 0;
  /// Where the model is.
  virtual torch::Device device() const = 0;
  /// Training mode (dropout, batch-norm statistics) on or off.
  virtual void set_training(bool on) = 0;

  /// Writes the weights in radpipe's own format, a torch::serialize archive of the named
  /// parameters and buffers.
  virtual void save_weights(const std::filesystem::path& file) const = 0;
  /// Reads weights in radpipe's format, and whatever other formats the model stage documents.
  virtual void load_weights(const std::filesystem::path& file) = 0;

  /// Switches the form the next forward calls run in. The host asks for Inference before it scores
  /// and for Trainable before it trains or explains; set_training(true) returns a model to the trainable
  /// form; load_weights keeps the form. The default: one form for everything.
  virtual void set_form(ModelForm /*form*/) {}
};

/// Explains a model's decision as a heatmap per image (Grad-CAM and friends).
class Explainer : public Stage {
public:
  static constexpr StageKind kind = StageKind::Explainer; ///< What PluginRegistrar::add registers it as.
  ~Explainer() override;

  /// Heatmaps [N, H, W] in [0, 1] at the input's resolution, for class `target` (0 for binary).
  virtual torch::Tensor explain(Model& model, const torch::Tensor& images, int target) = 0;
};

} // namespace radpipe
