// The networks behind the cnn, resnet and densenet stages. Their parameter and buffer names follow
// torchvision's modules exactly, so that a state_dict saved in Python loads by name.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace radpipe::torch_models {

// The classification head on the globally pooled features.
struct HeadOptions {
  std::int64_t outputs = 1;          // logits per image
  double dropout = 0.0;              // dropout probability on the input of each linear layer
  std::vector<std::int64_t> hidden;  // widths of hidden fully connected layers
};

struct NetworkOutput {
  torch::Tensor logits;   // [N, outputs]
  torch::Tensor features; // the last convolutional feature map, before global pooling
};

// A convolution and the BatchNorm that directly follows it, if any (networks.cpp).
class FoldableConv;

class Network : public torch::nn::Module {
public:
  using torch::nn::Module::Module;

  virtual NetworkOutput forward(const torch::Tensor& images) = 0;
  // Folded (inference only, eval mode): every convolution runs with channels-last weights and the
  // BatchNorm right after it baked into its weights and bias, from the current weights and running
  // statistics; forward then expects channels-last images. Unfolded: the modules as trained.
  // Folding again after the weights changed takes the new ones.
  void fold(bool on);
  bool folded() const { return folded_; }
  // The name of the first convolution's weight, the one tensor whose input channels depend on
  // the images (for the 1-channel adaptation of 3-channel weights).
  virtual const std::string& first_conv_weight() const = 0;

protected:
  // Every convolution of the network, registered by the modules that run them, for fold().
  void add_foldable(FoldableConv& conv) { foldables_.push_back(&conv); }

private:
  std::vector<FoldableConv*> foldables_;
  bool folded_ = false;
};

struct CnnShape {
  int blocks = 4;
  std::int64_t width = 32;        // channels of the first block, doubling per block up to 512
  int convolutions_per_block = 1; // in blocks 2..blocks; the first block always has one
};

// `blocks` blocks of (conv3x3 -> BatchNorm -> ReLU) x convolutions, then MaxPool2; the head is
// named `classifier`.
std::shared_ptr<Network> make_cnn(const CnnShape& shape, std::int64_t input_channels, const HeadOptions& head);
// torchvision's resnet18/34/50; the head is named `fc`.
std::shared_ptr<Network> make_resnet(int depth, std::int64_t input_channels, const HeadOptions& head);
// torchvision's densenet121/169/201 (growth 32, bn_size 4); the head is named `classifier`.
std::shared_ptr<Network> make_densenet(int depth, std::int64_t input_channels, const HeadOptions& head);

} // namespace radpipe::torch_models
