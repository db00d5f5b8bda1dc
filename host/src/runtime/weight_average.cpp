#include "runtime/weight_average.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace radpipe::host {

struct WeightAverage::Tensors {
  std::vector<torch::Tensor> average; // parameters, then buffers, in the module's order
};

namespace {

std::vector<torch::Tensor> module_tensors(torch::nn::Module& module) {
  std::vector<torch::Tensor> tensors = module.parameters();
  for (auto& buffer : module.buffers()) tensors.push_back(buffer);
  return tensors;
}

} // namespace

WeightAverage::WeightAverage(torch::nn::Module& module, double decay)
    : module_(module), decay_(decay), tensors_(std::make_unique<Tensors>()) {
  if (!(decay > 0.0 && decay < 1.0)) throw std::invalid_argument("a weight average's decay must lie in (0, 1)");
}

WeightAverage::~WeightAverage() = default;

double WeightAverage::decay_at(std::int64_t step) const {
  const auto t = static_cast<double>(std::max<std::int64_t>(step, 0));
  return std::min(decay_, (1.0 + t) / (10.0 + t));
}

bool WeightAverage::started() const { return !tensors_->average.empty(); }

void WeightAverage::start_from_module() {
  torch::NoGradGuard no_gradients;
  tensors_->average.clear();
  for (const auto& tensor : module_tensors(module_)) tensors_->average.push_back(tensor.detach().clone());
}

void WeightAverage::update(std::int64_t step) {
  if (!started()) {
    start_from_module();
    return;
  }
  torch::NoGradGuard no_gradients;
  const std::vector<torch::Tensor> live = module_tensors(module_);
  if (live.size() != tensors_->average.size())
    throw std::logic_error("the model's tensors changed while their average was kept");
  const double decay = decay_at(step);
  for (std::size_t i = 0; i < live.size(); ++i) {
    torch::Tensor& average = tensors_->average[i];
    if (average.is_floating_point())
      average.mul_(decay).add_(live[i].detach().to(average.dtype()), 1.0 - decay);
    else
      average.copy_(live[i]);
  }
}

void WeightAverage::swap() {
  if (!started()) start_from_module(); // nothing trained yet: the average is the module itself
  torch::NoGradGuard no_gradients;
  const std::vector<torch::Tensor> live = module_tensors(module_);
  if (live.size() != tensors_->average.size())
    throw std::logic_error("the model's tensors changed while their average was kept");
  for (std::size_t i = 0; i < live.size(); ++i) {
    torch::Tensor held = live[i].detach().clone();
    live[i].detach().copy_(tensors_->average[i]);
    tensors_->average[i].copy_(held);
  }
}

} // namespace radpipe::host
