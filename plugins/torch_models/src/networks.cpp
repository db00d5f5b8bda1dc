#include "networks.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <optional>
#include <stdexcept>

namespace radpipe::torch_models {
namespace nn = torch::nn;

namespace {

// Python's nn.Sequential and plain containers name their children "0", "1", ...; modules without
// parameters (ReLU, pooling) are applied functionally and not registered, as they add no names.
std::shared_ptr<nn::Module> make_container(const std::string& type_name) {
  return std::make_shared<nn::Module>(type_name);
}

nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  nn::Conv2d layer(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
  // torchvision's initialisation for ResNet and DenseNet convolutions.
  nn::init::kaiming_normal_(layer->weight, 0.0, torch::kFanOut, torch::kReLU);
  return layer;
}

nn::BatchNorm2d batch_norm(std::int64_t channels) { return nn::BatchNorm2d(nn::BatchNorm2dOptions(channels)); }

} // namespace

class FoldableConv {
public:
  explicit FoldableConv(nn::Conv2d conv, nn::BatchNorm2d norm = nullptr) : conv_(std::move(conv)), norm_(std::move(norm)) {}

  torch::Tensor operator()(const torch::Tensor& x) {
    if (weight_.defined()) return convolve(x, weight_, bias_);
    // Training on the CPU: oneDNN's kernels run NHWC fastest, and a convolution's output takes its
    // weight's layout, so an NHWC view of the weight carries every activation after it in NHWC too.
    // The view is differentiable and the parameter keeps its layout: checkpoints, the optimiser and
    // the collectives of distributed training see the same tensors as before.
    torch::Tensor y = x.is_cpu() ? convolve(x, conv_->weight.contiguous(torch::MemoryFormat::ChannelsLast), conv_->bias)
                                 : conv_->forward(x);
    return norm_.is_empty() ? y : norm_->forward(y);
  }

  // y = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta is one convolution with weights
  // W gamma / sqrt(var + eps) and bias (b - mean) gamma / sqrt(var + eps) + beta.
  void fold(bool on) {
    torch::NoGradGuard no_gradients;
    if (!on) {
      weight_ = bias_ = torch::Tensor();
      return;
    }
    torch::Tensor weight = conv_->weight, bias = conv_->bias;
    if (!norm_.is_empty()) {
      const auto& statistics = *norm_;
      const torch::Tensor scale = statistics.weight / torch::sqrt(statistics.running_var + statistics.options.eps());
      weight = weight * scale.reshape({-1, 1, 1, 1});
      bias = (bias.defined() ? bias - statistics.running_mean : -statistics.running_mean) * scale + statistics.bias;
    }
    // oneDNN's fast convolution kernels read and write NHWC.
    weight_ = weight.contiguous(torch::MemoryFormat::ChannelsLast);
    bias_ = bias.defined() ? bias.contiguous() : torch::Tensor();
  }

private:
  torch::Tensor convolve(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) const {
    const auto& options = conv_->options;
    return torch::conv2d(x, weight, bias, options.stride(), c10::get<torch::ExpandingArray<2>>(options.padding()),
                         options.dilation(), options.groups());
  }

  nn::Conv2d conv_;
  nn::BatchNorm2d norm_;
  torch::Tensor weight_, bias_;
};

void Network::fold(bool on) {
  for (FoldableConv* conv : foldables_) conv->fold(on);
  folded_ = on;
}

namespace {

// Registers a convolution, then the BatchNorm after it, in `owner` under torchvision's names (in
// this order: state_dicts and optimiser state list parameters in registration order).
FoldableConv conv_with_norm(nn::Module& owner, const std::string& conv_name, nn::Conv2d convolution, const std::string& norm_name,
                            nn::BatchNorm2d norm) {
  auto registered_conv = owner.register_module(conv_name, std::move(convolution));
  auto registered_norm = owner.register_module(norm_name, std::move(norm));
  return FoldableConv(registered_conv, registered_norm);
}

// The head is always called through a Sequential. When it is a single Linear layer that Linear is
// what gets registered, so its tensors are `fc.weight`/`classifier.weight` as in torchvision.
class Head {
public:
  Head(nn::Module& owner, const std::string& name, std::int64_t in_features, const HeadOptions& options) {
    std::int64_t width = in_features;
    auto add_linear = [&](std::int64_t out) {
      if (options.dropout > 0.0) sequence_->push_back(nn::Dropout(options.dropout));
      sequence_->push_back(nn::Linear(width, out));
      width = out;
    };
    for (std::int64_t hidden : options.hidden) {
      add_linear(hidden);
      sequence_->push_back(nn::ReLU());
    }
    add_linear(options.outputs);
    if (sequence_->size() == 1)
      owner.register_module(name, sequence_->ptr(0));
    else
      owner.register_module(name, sequence_.ptr());
  }

  torch::Tensor operator()(const torch::Tensor& pooled) { return sequence_->forward(pooled); }

private:
  nn::Sequential sequence_;
};

torch::Tensor global_pool(const torch::Tensor& features) {
  return torch::adaptive_avg_pool2d(features, {1, 1}).flatten(1);
}

// ---------------------------------------------------------------------------------------- CNN

// Conv3x3, BatchNorm and ReLU `convolutions` times, then 2x2 max pooling. The first pair keeps the
// names `conv`/`norm` so that one-convolution checkpoints load as before; further ones are
// `conv2`/`norm2`, `conv3`/`norm3`.
class ConvBlock : public nn::Module {
public:
  ConvBlock(std::int64_t in, std::int64_t out, int convolutions) : nn::Module("ConvBlock") {
    for (int i = 1; i <= convolutions; ++i) {
      const std::string suffix = i == 1 ? "" : std::to_string(i);
      convs_.push_back(conv_with_norm(*this, "conv" + suffix, conv(i == 1 ? in : out, out, 3, 1, 1), "norm" + suffix,
                                      batch_norm(out)));
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = x;
    for (auto& convolution : convs_) y = torch::relu(convolution(y));
    return torch::max_pool2d(y, 2);
  }
  std::vector<FoldableConv>& foldables() { return convs_; }

private:
  std::vector<FoldableConv> convs_;
};

class Cnn final : public Network {
public:
  Cnn(const CnnShape& shape, std::int64_t input_channels, const HeadOptions& head) : Network("Cnn") {
    auto features = register_module("features", make_container("Sequential"));
    std::int64_t in = input_channels;
    std::int64_t out = shape.width;
    for (int i = 1; i <= shape.blocks; ++i) {
      // The first block runs at full resolution, where a second convolution would cost as much
      // as several of the later blocks together; depth is added where the maps are small.
      const int convolutions = i == 1 ? 1 : shape.convolutions_per_block;
      auto block = std::make_shared<ConvBlock>(in, out, convolutions);
      blocks_.push_back(features->register_module("block" + std::to_string(i), std::move(block)));
      for (FoldableConv& foldable : blocks_.back()->foldables()) add_foldable(foldable);
      in = out;
      out = std::min<std::int64_t>(out * 2, 512);
    }
    head_.emplace(*this, "classifier", in, head);
  }

  NetworkOutput forward(const torch::Tensor& images) override {
    torch::Tensor x = images;
    for (auto& block : blocks_) x = block->forward(x);
    return {(*head_)(global_pool(x)), x};
  }

  const std::string& first_conv_weight() const override { return first_conv_; }

private:
  std::vector<std::shared_ptr<ConvBlock>> blocks_;
  std::optional<Head> head_;
  std::string first_conv_ = "features.block1.conv.weight";
};

// ------------------------------------------------------------------------------------- ResNet

class ResidualBlock : public nn::Module {
public:
  using nn::Module::Module;
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  const std::vector<FoldableConv*>& foldables() const { return foldables_; }

protected:
  FoldableConv conv_norm(const std::string& conv_name, nn::Conv2d convolution, const std::string& norm_name, nn::BatchNorm2d norm) {
    return conv_with_norm(*this, conv_name, std::move(convolution), norm_name, std::move(norm));
  }
  // torchvision's `downsample`: a 1x1 convolution and BatchNorm where the shape changes.
  void add_downsample(std::int64_t in, std::int64_t out, std::int64_t stride) {
    if (stride == 1 && in == out) return;
    nn::Conv2d convolution = conv(in, out, 1, stride, 0);
    nn::BatchNorm2d norm = batch_norm(out);
    register_module("downsample", nn::Sequential(convolution, norm));
    downsample_.emplace(convolution, norm);
    foldables_.push_back(&*downsample_);
  }
  torch::Tensor shortcut(const torch::Tensor& x) { return downsample_ ? (*downsample_)(x) : x; }

  std::vector<FoldableConv*> foldables_;

private:
  std::optional<FoldableConv> downsample_;
};

class BasicBlock final : public ResidualBlock {
public:
  static constexpr std::int64_t expansion = 1;

  BasicBlock(std::int64_t in, std::int64_t planes, std::int64_t stride)
      : ResidualBlock("BasicBlock"), conv1_(conv_norm("conv1", conv(in, planes, 3, stride, 1), "bn1", batch_norm(planes))),
        conv2_(conv_norm("conv2", conv(planes, planes, 3, 1, 1), "bn2", batch_norm(planes))) {
    foldables_ = {&conv1_, &conv2_};
    add_downsample(in, planes * expansion, stride);
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor out = conv2_(torch::relu(conv1_(x)));
    return torch::relu(out + shortcut(x));
  }

private:
  FoldableConv conv1_;
  FoldableConv conv2_;
};

// torchvision's Bottleneck (ResNet v1.5: the stride sits on the 3x3 convolution).
class Bottleneck final : public ResidualBlock {
public:
  static constexpr std::int64_t expansion = 4;

  Bottleneck(std::int64_t in, std::int64_t planes, std::int64_t stride)
      : ResidualBlock("Bottleneck"), conv1_(conv_norm("conv1", conv(in, planes, 1, 1, 0), "bn1", batch_norm(planes))),
        conv2_(conv_norm("conv2", conv(planes, planes, 3, stride, 1), "bn2", batch_norm(planes))),
        conv3_(conv_norm("conv3", conv(planes, planes * expansion, 1, 1, 0), "bn3", batch_norm(planes * expansion))) {
    foldables_ = {&conv1_, &conv2_, &conv3_};
    add_downsample(in, planes * expansion, stride);
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor out = torch::relu(conv1_(x));
    out = torch::relu(conv2_(out));
    out = conv3_(out);
    return torch::relu(out + shortcut(x));
  }

private:
  FoldableConv conv1_;
  FoldableConv conv2_;
  FoldableConv conv3_;
};

class ResNet final : public Network {
public:
  ResNet(int depth, std::int64_t input_channels, const HeadOptions& head) : Network("ResNet") {
    conv1_.emplace(conv_with_norm(*this, "conv1", conv(input_channels, 64, 7, 2, 3), "bn1", batch_norm(64)));
    add_foldable(*conv1_);
    std::array<int, 4> counts{};
    switch (depth) {
    case 18: counts = {2, 2, 2, 2}; break;
    case 34: counts = {3, 4, 6, 3}; break;
    case 50: counts = {3, 4, 6, 3}; break;
    default: throw std::invalid_argument("unsupported ResNet depth " + std::to_string(depth));
    }
    const bool bottleneck = depth >= 50;
    const std::int64_t expansion = bottleneck ? Bottleneck::expansion : BasicBlock::expansion;
    std::int64_t in = 64;
    for (std::size_t layer = 0; layer < counts.size(); ++layer) {
      auto container = register_module("layer" + std::to_string(layer + 1), make_container("Sequential"));
      const std::int64_t planes = std::int64_t{64} << layer;
      for (int i = 0; i < counts[layer]; ++i) {
        const std::int64_t stride = (layer > 0 && i == 0) ? 2 : 1;
        std::shared_ptr<ResidualBlock> block;
        if (bottleneck)
          block = std::make_shared<Bottleneck>(in, planes, stride);
        else
          block = std::make_shared<BasicBlock>(in, planes, stride);
        blocks_.push_back(container->register_module(std::to_string(i), block));
        for (FoldableConv* foldable : block->foldables()) add_foldable(*foldable);
        in = planes * expansion;
      }
    }
    head_.emplace(*this, "fc", in, head);
  }

  NetworkOutput forward(const torch::Tensor& images) override {
    torch::Tensor x = torch::relu((*conv1_)(images));
    x = torch::max_pool2d(x, 3, 2, 1);
    for (auto& block : blocks_) x = block->forward(x);
    return {(*head_)(global_pool(x)), x};
  }

  const std::string& first_conv_weight() const override { return first_conv_; }

private:
  std::optional<FoldableConv> conv1_;
  std::vector<std::shared_ptr<ResidualBlock>> blocks_;
  std::optional<Head> head_;
  std::string first_conv_ = "conv1.weight";
};

// ----------------------------------------------------------------------------------- DenseNet

constexpr std::int64_t growth_rate = 32;
constexpr std::int64_t bn_size = 4;

class DenseLayer final : public nn::Module {
public:
  // norm1 normalises the concatenated input, before its ReLU: it has no convolution to fold into.
  explicit DenseLayer(std::int64_t in)
      : nn::Module("DenseLayer"), norm1_(register_module("norm1", batch_norm(in))),
        conv1_(conv_with_norm(*this, "conv1", conv(in, bn_size * growth_rate, 1, 1, 0), "norm2", batch_norm(bn_size * growth_rate))),
        conv2_(register_module("conv2", conv(bn_size * growth_rate, growth_rate, 3, 1, 1))) {}

  torch::Tensor forward(const torch::Tensor& x) { return conv2_(torch::relu(conv1_(torch::relu(norm1_->forward(x))))); }
  std::vector<FoldableConv*> foldables() { return {&conv1_, &conv2_}; }

private:
  nn::BatchNorm2d norm1_;
  FoldableConv conv1_; // with norm2
  FoldableConv conv2_;
};

class DenseBlock final : public nn::Module {
public:
  DenseBlock(int layers, std::int64_t in) : nn::Module("DenseBlock") {
    for (int i = 0; i < layers; ++i)
      layers_.push_back(register_module("denselayer" + std::to_string(i + 1), std::make_shared<DenseLayer>(in + i * growth_rate)));
  }

  std::vector<FoldableConv*> foldables() {
    std::vector<FoldableConv*> all;
    for (auto& layer : layers_)
      for (FoldableConv* conv : layer->foldables()) all.push_back(conv);
    return all;
  }

  torch::Tensor forward(const torch::Tensor& x) {
    std::vector<torch::Tensor> features{x};
    for (auto& layer : layers_) features.push_back(layer->forward(torch::cat(features, 1)));
    return torch::cat(features, 1);
  }

private:
  std::vector<std::shared_ptr<DenseLayer>> layers_;
};

class Transition final : public nn::Module {
public:
  Transition(std::int64_t in, std::int64_t out)
      : nn::Module("Transition"), norm_(register_module("norm", batch_norm(in))),
        conv_(register_module("conv", conv(in, out, 1, 1, 0))) {}

  torch::Tensor forward(const torch::Tensor& x) { return torch::avg_pool2d(conv_(torch::relu(norm_->forward(x))), 2, 2); }
  FoldableConv& foldable() { return conv_; }

private:
  nn::BatchNorm2d norm_;
  FoldableConv conv_;
};

class DenseNet final : public Network {
public:
  DenseNet(int depth, std::int64_t input_channels, const HeadOptions& head) : Network("DenseNet") {
    std::array<int, 4> config{};
    switch (depth) {
    case 121: config = {6, 12, 24, 16}; break;
    case 169: config = {6, 12, 32, 32}; break;
    case 201: config = {6, 12, 48, 32}; break;
    default: throw std::invalid_argument("unsupported DenseNet depth " + std::to_string(depth));
    }
    auto features = register_module("features", make_container("Sequential"));
    std::int64_t channels = 64;
    conv0_.emplace(conv_with_norm(*features, "conv0", conv(input_channels, channels, 7, 2, 3), "norm0", batch_norm(channels)));
    add_foldable(*conv0_);
    for (std::size_t i = 0; i < config.size(); ++i) {
      const std::string index = std::to_string(i + 1);
      blocks_.push_back(features->register_module("denseblock" + index, std::make_shared<DenseBlock>(config[i], channels)));
      for (FoldableConv* foldable : blocks_.back()->foldables()) add_foldable(*foldable);
      channels += config[i] * growth_rate;
      if (i + 1 < config.size()) {
        transitions_.push_back(features->register_module("transition" + index, std::make_shared<Transition>(channels, channels / 2)));
        add_foldable(transitions_.back()->foldable());
        channels /= 2;
      }
    }
    norm5_ = features->register_module("norm5", batch_norm(channels));
    head_.emplace(*this, "classifier", channels, head);
    // torchvision zeroes the classifier's bias.
    torch::NoGradGuard no_grad;
    for (auto& parameter : named_parameters())
      if (parameter.key().starts_with("classifier") && parameter.key().ends_with(".bias")) parameter.value().zero_();
  }

  NetworkOutput forward(const torch::Tensor& images) override {
    torch::Tensor x = torch::relu((*conv0_)(images));
    x = torch::max_pool2d(x, 3, 2, 1);
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      x = blocks_[i]->forward(x);
      if (i < transitions_.size()) x = transitions_[i]->forward(x);
    }
    torch::Tensor features = torch::relu(norm5_->forward(x));
    return {(*head_)(global_pool(features)), features};
  }

  const std::string& first_conv_weight() const override { return first_conv_; }

private:
  std::optional<FoldableConv> conv0_;
  std::vector<std::shared_ptr<DenseBlock>> blocks_;
  std::vector<std::shared_ptr<Transition>> transitions_;
  nn::BatchNorm2d norm5_{nullptr};
  std::optional<Head> head_;
  std::string first_conv_ = "features.conv0.weight";
};

} // namespace

std::shared_ptr<Network> make_cnn(const CnnShape& shape, std::int64_t input_channels, const HeadOptions& head) {
  return std::make_shared<Cnn>(shape, input_channels, head);
}

std::shared_ptr<Network> make_resnet(int depth, std::int64_t input_channels, const HeadOptions& head) {
  return std::make_shared<ResNet>(depth, input_channels, head);
}

std::shared_ptr<Network> make_densenet(int depth, std::int64_t input_channels, const HeadOptions& head) {
  return std::make_shared<DenseNet>(depth, input_channels, head);
}

} // namespace radpipe::torch_models
