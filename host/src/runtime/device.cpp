#include "runtime/device.hpp"

#include <torch/torch.h>
#include <torch/version.h>

namespace radpipe::host {

std::string accelerator_build_summary() {
#ifdef RADPIPE_WITH_CUDA
  std::string line = "CUDA: on (built with RADPIPE_CUDA against LibTorch " TORCH_VERSION ")";
#ifdef RADPIPE_WITH_NCCL
  line += "; NCCL: on (distributed training on CUDA devices)";
#else
  line += "; NCCL: off (ProcessGroupNCCL or nccl.h not found at configure time)";
#endif
  return line;
#else
  return "CUDA: off (built without RADPIPE_CUDA, against LibTorch " TORCH_VERSION ")";
#endif
}

c10::TensorOptions host_batch_options(const c10::Device& device) {
  return c10::TensorOptions(c10::kFloat).pinned_memory(device.is_cuda());
}

at::Tensor to_device(const at::Tensor& batch, const c10::Device& device) {
  return batch.to(device, /*non_blocking=*/device.is_cuda());
}

bool built_with_nccl() {
#ifdef RADPIPE_WITH_NCCL
  return true;
#else
  return false;
#endif
}

} // namespace radpipe::host
