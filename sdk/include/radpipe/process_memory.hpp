/// @file
/// @brief How a radpipe program (the host, or a plugin's helper program such as the dicom
/// reader's decoder) asks glibc to keep the memory it frees. Call it first thing in main.
#pragma once

#include <malloc.h>

#include <cstdlib>

namespace radpipe {

/// With glibc's defaults every buffer above the mmap threshold (128 KiB, rising to at most 32 MiB)
/// is a fresh mapping that the kernel zeroes page by page, and the heap's top is handed back once
/// 128 KiB lie free. A program that allocates and frees the same large buffers for every image or
/// batch (LibTorch's scratch buffers; a radiograph's pixels, decoded, unpacked and mapped) then
/// pays a page fault per 4 KiB each time: training the demo CNN ran at half speed, and decoding one
/// 2000x2500 12-bit DICOM file took 330 ms instead of 35. Served from a heap that keeps what is
/// freed, every later allocation of the same size is cheap. The environment's MALLOC_* variables
/// still win, as glibc applies them before main.
inline void keep_freed_memory_for_reuse() {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr) mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  if (std::getenv("MALLOC_TOP_PAD_") == nullptr) mallopt(M_TOP_PAD, 64 * 1024 * 1024);
}

} // namespace radpipe
