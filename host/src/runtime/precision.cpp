#include "runtime/precision.hpp"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <sstream>

namespace radpipe::host {

namespace {

// LibTorch 2.4 replaced the per-device autocast functions by device-typed ones (the old ones are
// deprecated, which -Werror turns into failures).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(c10::DeviceType type) {
  return at::autocast::is_autocast_enabled(type);
}
void set_autocast_enabled(c10::DeviceType type, bool on) {
  at::autocast::set_autocast_enabled(type, on);
}
c10::ScalarType autocast_type(c10::DeviceType type) {
  return at::autocast::get_autocast_dtype(type);
}
void set_autocast_type(c10::DeviceType type, c10::ScalarType scalar) {
  at::autocast::set_autocast_dtype(type, scalar);
}
#else
bool autocast_enabled(c10::DeviceType type) {
  return type == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast_enabled(c10::DeviceType type, bool on) {
  if (type == c10::DeviceType::CUDA)
    at::autocast::set_enabled(on);
  else
    at::autocast::set_cpu_enabled(on);
}
c10::ScalarType autocast_type(c10::DeviceType type) {
  return type == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                       : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_type(c10::DeviceType type, c10::ScalarType scalar) {
  if (type == c10::DeviceType::CUDA)
    at::autocast::set_autocast_gpu_dtype(scalar);
  else
    at::autocast::set_autocast_cpu_dtype(scalar);
}
#endif

} // namespace

std::optional<Precision> parse_precision(std::string_view text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "bf16") return Precision::bf16;
  if (text == "fp16") return Precision::fp16;
  return std::nullopt;
}

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::bf16:
      return "bf16";
    case Precision::fp16:
      return "fp16";
    default:
      return "fp32";
  }
}

std::string precision_problem(Precision precision, const c10::Device& device) {
  std::ostringstream problem; // not operator+: GCC 12 warns falsely about its inlined copies
  if (precision == Precision::fp16 && !device.is_cuda())
    problem << "precision \"fp16\" runs on CUDA devices only (LibTorch has no float16 autocast on "
            << device.str() << "): use \"bf16\" or \"fp32\"";
  else if (precision != Precision::fp32 && !device.is_cuda() && !device.is_cpu())
    problem << "precision \"" << precision_name(precision) << "\" needs a CPU or CUDA device, not "
            << device.str();
  return problem.str();
}

AutocastScope::AutocastScope(const c10::Device& device, Precision precision) {
  if (precision == Precision::fp32) return;
  active_ = true;
  device_type_ = device.type();
  was_enabled_ = autocast_enabled(device_type_);
  previous_type_ = autocast_type(device_type_);
  set_autocast_type(device_type_,
                    precision == Precision::fp16 ? c10::ScalarType::Half : c10::ScalarType::BFloat16);
  set_autocast_enabled(device_type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The cast weights are cached while autocast regions nest; the outermost one frees them.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(device_type_, was_enabled_);
  set_autocast_type(device_type_, previous_type_);
}

LossScaler::LossScaler(double initial_scale, double growth_factor, double backoff_factor,
                       long long growth_interval)
    : scale_(initial_scale),
      growth_factor_(growth_factor),
      backoff_factor_(backoff_factor),
      growth_interval_(growth_interval) {}

at::Tensor LossScaler::scaled(const at::Tensor& loss) const {
  return loss * scale_;
}

bool LossScaler::unscale(const std::vector<at::Tensor>& parameters) const {
  torch::NoGradGuard no_gradients;
  std::vector<torch::Tensor> norms;
  for (const auto& parameter : parameters) {
    if (!parameter.grad().defined()) continue;
    parameter.grad().div_(scale_);
    norms.push_back(parameter.grad().norm().to(torch::kFloat32));
  }
  // One device synchronisation: the sum of the norms is finite exactly when every gradient is.
  return norms.empty() || torch::isfinite(torch::stack(norms).sum()).item<bool>();
}

void LossScaler::update(bool finite) {
  if (!finite) {
    scale_ *= backoff_factor_;
    good_steps_ = 0;
    return;
  }
  if (++good_steps_ >= growth_interval_) {
    scale_ *= growth_factor_;
    good_steps_ = 0;
  }
}

} // namespace radpipe::host
