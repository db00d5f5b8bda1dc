// The pickle inside a .pth weights file (weights come from strangers too): the rewrite that makes
// Python's torch.save pickles readable by LibTorch must refuse malformed ones with an exception,
// never read or write out of bounds. Its output is what LibTorch's unpickler later reads, so it is
// also checked to end in STOP.
#include "pickle_rewrite.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const std::string rewritten =
        radpipe::torch_models::normalise_torch_save_pickle({reinterpret_cast<const char*>(data), size});
    if (rewritten.empty() || rewritten.back() != '.') __builtin_trap(); // a rewrite that succeeds is a whole pickle
  } catch (const std::runtime_error&) {
  }
  return 0;
}
