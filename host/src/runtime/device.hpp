// Where a chain's model runs, as the build and the running thread see it: what this radpipe was
// built with (RADPIPE_CUDA, NCCL), and the current CUDA device of a chain's thread.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/TensorOptions.h>

#include <string>

namespace at {
class Tensor;
}

namespace radpipe::host {

// One line for `radpipe --version`: "CUDA: off (built without RADPIPE_CUDA)", or what the CUDA
// build holds (LibTorch's version, NCCL).
std::string accelerator_build_summary();

// How a batch bound for `device` is allocated on the host: float32, page-locked (pinned) when the
// device is CUDA, so that the copy to it runs by DMA without blocking the host.
c10::TensorOptions host_batch_options(const c10::Device& device);
// A host batch on `device`: for CUDA a non-blocking copy (LibTorch keeps a pinned source from
// reuse until the copy is done), else the tensor as it is (on the CPU) or a plain copy.
at::Tensor to_device(const at::Tensor& batch, const c10::Device& device);

// Whether this radpipe can run collectives on CUDA tensors (built with RADPIPE_CUDA and NCCL).
bool built_with_nccl();

// Makes a CUDA `device` the current device of this thread while it lives, as c10::cuda::CUDAGuard
// does (through c10's device-generic guard, which the CUDA LibTorch backs with cudaSetDevice), so
// that kernels, allocations and streams of a chain's thread land on its GPU and chains on
// different GPUs run side by side. Does nothing for the CPU.
class DeviceScope {
 public:
  explicit DeviceScope(const c10::Device& device) {
    if (device.is_cuda()) guard_.reset_device(device);
  }

 private:
  c10::OptionalDeviceGuard guard_;
};

} // namespace radpipe::host
