// Makes the pickle of a Python torch.save state_dict readable by LibTorch's Unpickler.
#pragma once

#include <string>
#include <string_view>

namespace radpipe::torch_models {

// LibTorch's torch::jit::Unpickler reads the pickles that LibTorch writes, a subset of what Python
// writes for `torch.save(model.state_dict(), path)`. It fails on three things such files hold:
//  - `collections.OrderedDict()`, which it turns into None (it expects one only as a tensor's
//    empty backward hooks), so the state_dict's items have nowhere to go;
//  - BUILD, which restores the OrderedDict's `_metadata` attribute;
//  - SETITEM and APPEND, which Python uses for one-item dicts and lists (LibTorch 1.13 reads only
//    SETITEMS and APPENDS), and LONG1 integers shorter than 8 bytes.
// This returns the same data in the subset it reads: every `OrderedDict()` becomes an empty dict;
// `obj state BUILD` becomes `obj MARK "__state__" state SETITEMS`, so the attributes land in the
// dict under a key that holds no tensor; SETITEM and APPEND get a MARK before their operands and
// become SETITEMS and APPENDS; LONG1 integers are widened to 8 bytes. It follows the pickle's
// stack, so that a MARK can be put where an operand's instructions begin.
//
// Throws std::runtime_error for malformed data or for instructions LibTorch's Unpickler does not
// read either, naming the instruction.
std::string normalise_torch_save_pickle(std::string_view pickle);

} // namespace radpipe::torch_models
