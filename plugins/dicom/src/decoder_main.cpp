// radpipe-dicom-decoder: the `dicom` reader's decoder helper. The reader starts a few of these and
// hands each many files, one request at a time (decoder_protocol.hpp), so that a file on which
// GDCM aborts or crashes ends this process and not radpipe. It is not meant to be run by hand: it
// answers on stdin/stdout and writes pixels into the shared memory file open as descriptor 3.
#include <fcntl.h>

#include <iostream>
#include <radpipe/process_memory.hpp>

#include "decoder_server.hpp"

int main() {
  // Each file's pixels are read, unpacked and mapped through buffers of tens of MB: 330 ms of
  // page faults per 2000x2500 12-bit file without this, 35 ms with it (bench_dicom_decode_overhead).
  radpipe::keep_freed_memory_for_reuse();
  constexpr int pixels_fd = 3;
  if (::fcntl(pixels_fd, F_GETFD) < 0) {
    std::cerr
        << "radpipe-dicom-decoder: started without its shared pixel memory (descriptor 3); it is run by "
           "radpipe's dicom reader, not by hand\n";
    return 2;
  }
  return radpipe::dicom::serve_decoder(pixels_fd);
}
