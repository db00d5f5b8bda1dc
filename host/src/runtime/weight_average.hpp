// An exponential moving average of a model's weights (Polyak averaging, as timm's ModelEmaV2
// keeps it): updated after every optimisation step, swapped into the model to be validated and
// saved. One chain's checkpoint selection then rests on weights that move smoothly from epoch to
// epoch instead of on the last step's. The LibTorch headers stay in weight_average.cpp.
#pragma once

#include <cstdint>
#include <memory>

namespace torch::nn {
class Module;
}

namespace radpipe::host {

class WeightAverage {
public:
  // `decay` in (0, 1): the weight of the average so far at each update, once past the warm-up.
  WeightAverage(torch::nn::Module& module, double decay);
  ~WeightAverage();
  WeightAverage(const WeightAverage&) = delete;
  WeightAverage& operator=(const WeightAverage&) = delete;

  // The decay after optimisation step `step` (1 for the first): min(decay, (1 + step) / (10 + step)),
  // so that the first steps' weights, far from trained, soon fall out of the average.
  double decay_at(std::int64_t step) const;

  // Folds the module's weights after optimisation step `step` into the average. Floating-point
  // parameters and buffers (BatchNorm statistics) are averaged; integer buffers (BatchNorm's batch
  // count) follow the module. The first update, or the first after start_from_module(), starts
  // the average from the module's weights.
  void update(std::int64_t step);

  // The average starts again from the module's current weights (a resumed run loads the saved
  // average into the module, takes it here, then loads the live weights).
  void start_from_module();
  bool started() const;

  // Exchanges the module's weights with the average; a second call undoes the first.
  void swap();

  // The average in the module for the lifetime of this object (validation, saving).
  class InPlace {
  public:
    explicit InPlace(WeightAverage* average) : average_(average) {
      if (average_ != nullptr) average_->swap();
    }
    ~InPlace() {
      if (average_ != nullptr) average_->swap();
    }
    InPlace(const InPlace&) = delete;
    InPlace& operator=(const InPlace&) = delete;

  private:
    WeightAverage* average_;
  };

private:
  struct Tensors;
  torch::nn::Module& module_;
  double decay_;
  std::unique_ptr<Tensors> tensors_;
};

} // namespace radpipe::host
