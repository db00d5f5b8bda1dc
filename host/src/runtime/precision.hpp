// Numeric precision of a chain's forward pass: float32, or autocast to bfloat16 or float16, and
// the dynamic loss scaler float16 training needs. The autocast API differs between LibTorch 1.13
// (per-device functions) and 2.4+ (device-typed ones); precision.cpp alone knows which.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace at {
class Tensor;
}

namespace radpipe::host {

enum class Precision { fp32, bf16, fp16 };

// "fp32", "bf16", "fp16"; nullopt for anything else.
std::optional<Precision> parse_precision(std::string_view text);
const char* precision_name(Precision precision);

// Why `precision` cannot run on `device` (float16 autocast exists on CUDA only); empty when it can.
std::string precision_problem(Precision precision, const c10::Device& device);

// Autocasts the forward passes run on this thread on `device`'s type to `precision` while it
// lives (fp32: does nothing), and restores the previous autocast state after, as Python's
// torch.autocast does. Autocast state is per thread: create it on the thread that runs the model.
class AutocastScope {
 public:
  AutocastScope(const c10::Device& device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_type_ = c10::DeviceType::CPU;
  bool was_enabled_ = false;
  c10::ScalarType previous_type_ = c10::ScalarType::Float;
};

// Dynamic loss scaling for float16 training (LibTorch's C++ API has no GradScaler): the loss is
// multiplied by a scale before backward so that small gradients survive float16; unscale()
// divides the gradients back and reports whether they are finite. A step whose gradients
// overflowed is skipped and the scale halves; after `growth_interval` good steps in a row it
// doubles. Python's torch.cuda.amp.GradScaler defaults.
class LossScaler {
 public:
  explicit LossScaler(double initial_scale = 65536.0, double growth_factor = 2.0, double backoff_factor = 0.5,
                      long long growth_interval = 2000);

  double scale() const { return scale_; }
  void set_scale(double scale) { scale_ = scale; }
  at::Tensor scaled(const at::Tensor& loss) const;
  // Divides every defined gradient of `parameters` by the scale; whether all are finite.
  bool unscale(const std::vector<at::Tensor>& parameters) const;
  // After each step: halve on overflow, grow after growth_interval finite steps in a row.
  void update(bool finite);

 private:
  double scale_, growth_factor_, backoff_factor_;
  long long growth_interval_, good_steps_ = 0;
};

} // namespace radpipe::host
