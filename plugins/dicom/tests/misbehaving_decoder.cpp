// The real decoder helper, except that it fails as GDCM does on some malformed files when a
// file's name says so: "abort" (an assertion: SIGABRT), "segfault" (SIGSEGV), "exit" (exit code
// 3 mid-answer), "hang" (never answers), "garble" (answers nonsense). Everything else it decodes
// for real, so tests can check that the pool survives each failure and decodes the next file.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "decoder_server.hpp"

int main() {
  return radpipe::dicom::serve_decoder(3, [](const radpipe::dicom::DecoderRequest& request) {
    const std::string name = std::filesystem::path(request.file).filename().string();
    const auto named = [&](const char* word) { return name.find(word) != std::string::npos; };
    if (named("abort")) {
      std::fputs("gdcmJPEG2000Codec.cxx:123: Assertion `len > 0' failed.\n", stderr);
      std::abort();
    }
    if (named("segfault")) ::raise(SIGSEGV);
    if (named("exit")) std::_Exit(3);
    if (named("garble")) std::cout << "{\"header\": 42}" << std::endl;
    if (named("hang"))
      while (true) std::this_thread::sleep_for(std::chrono::hours(1));
  });
}
