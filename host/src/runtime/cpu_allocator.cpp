#include "runtime/cpu_allocator.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace radpipe::host {
namespace {

constexpr std::size_t large_buffer = std::size_t{32} << 20;
constexpr std::size_t size_step = std::size_t{2} << 20;

class CachingCpuAllocator final : public c10::Allocator {
public:
  void set_limit(std::size_t bytes) { limit_ = bytes; }

  c10::DataPtr allocate(std::size_t bytes) const override {
    void* data = nullptr;
    if (bytes < large_buffer) {
      data = c10::alloc_cpu(bytes);
    } else {
      const std::size_t size = (bytes + size_step - 1) / size_step * size_step;
      {
        std::lock_guard lock(mutex_);
        if (auto kept = free_.find(size); kept != free_.end()) {
          data = kept->second;
          free_.erase(kept);
          cached_ -= size;
        }
      }
      if (data == nullptr) data = c10::alloc_cpu(size);
      std::lock_guard lock(mutex_);
      in_use_.emplace(data, size);
    }
    return c10::DataPtr(data, data, &release, c10::Device(c10::DeviceType::CPU));
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

private:
  static void release(void* data);
  void give_back(void* data) const {
    {
      std::lock_guard lock(mutex_);
      if (auto used = in_use_.find(data); used != in_use_.end()) {
        const std::size_t size = used->second;
        in_use_.erase(used);
        if (cached_ + size <= limit_) {
          free_.emplace(size, data);
          cached_ += size;
          return;
        }
      }
    }
    c10::free_cpu(data);
  }

  std::size_t limit_ = 0;
  mutable std::mutex mutex_;
  mutable std::multimap<std::size_t, void*> free_;         // kept buffers by size
  mutable std::unordered_map<void*, std::size_t> in_use_; // large buffers handed out
  mutable std::size_t cached_ = 0;
};

CachingCpuAllocator& the_allocator() {
  // Never destroyed: tensors held by other static objects are freed through it during exit.
  static CachingCpuAllocator& allocator = *std::make_unique<CachingCpuAllocator>().release();
  return allocator;
}

void CachingCpuAllocator::release(void* data) { the_allocator().give_back(data); }

} // namespace

void keep_large_tensor_buffers_for_reuse(std::size_t max_cached_bytes) {
  the_allocator().set_limit(max_cached_bytes);
  c10::SetCPUAllocator(&the_allocator(), /*priority=*/1);
}

} // namespace radpipe::host
