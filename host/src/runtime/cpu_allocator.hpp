// LibTorch's CPU tensors above glibc's largest mmap threshold (32 MiB on 64-bit, the cap that
// radpipe/process_memory.hpp sets) are mapped at allocation and unmapped when freed, so every such buffer
// costs a page fault per 4 KiB at every batch: ResNet's first feature map at batch 32 and 128
// pixels is 33.5 MB, DenseNet's concatenations at 320 pixels over 100 MB. The allocator installed
// here keeps those buffers for the next request of the same size instead.
#pragma once

#include <cstddef>

namespace radpipe::host {

// Installs the caching allocator as LibTorch's CPU allocator. Freed buffers of 32 MiB and more are
// kept, up to `max_cached_bytes` in all, and handed out again for requests of the same size
// (rounded up to 2 MiB); smaller ones go to glibc as before.
void keep_large_tensor_buffers_for_reuse(std::size_t max_cached_bytes);

} // namespace radpipe::host
