// The decoder helper's side of decoder_protocol.hpp: answers requests until its stdin ends.
#pragma once

#include <functional>

#include "decoder_protocol.hpp"

namespace radpipe::dicom {

// Reads requests from stdin and answers each on stdout, the pixels of a decoded frame written at
// the start of the shared memory file `pixels_fd` (grown as needed, never shrunk). Returns the
// exit code: 0 when stdin ends, 1 when stdout fails. `before_each`, when given, sees each request
// first: test decoders use it to misbehave on chosen files as GDCM does on malformed ones.
int serve_decoder(int pixels_fd, const std::function<void(const DecoderRequest&)>& before_each = {});

} // namespace radpipe::dicom
