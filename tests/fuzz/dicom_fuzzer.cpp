// DICOM files across the decoder's process boundary: the dicom reader hands every file to a pool of
// radpipe-dicom-decoder helper processes (GDCM), so that a file on which GDCM aborts fails alone.
// Here every input is such a file: GDCM crashing in a helper must come back as a SampleError, and
// the plugin's side (pool, process runner, protocol parser) must never crash. The protocol parsers
// are also fed the raw input, as a helper gone wrong could send anything.
//
// The helper of a sanitizer build exits with 86 when ASan or UBSan catch a bug in radpipe's own
// decoding code; that is reported as a crash here, not hidden as a malformed file.
#include "decoder_protocol.hpp"
#include "dicom_reader.hpp"

#include <radpipe/error.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

constexpr const char* sanitizer_exit = "exited with code 86";

const std::filesystem::path& scratch_file() {
  static const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("radpipe-fuzz-dicom-" + std::to_string(::getpid()) + ".dcm");
  return file;
}

void append_option(const char* variable, const char* option) {
  const char* existing = std::getenv(variable);
  const std::string value = existing && *existing ? std::string(existing) + ":" + option : option;
  ::setenv(variable, value.c_str(), 1);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  append_option("ASAN_OPTIONS", "exitcode=86");
  append_option("UBSAN_OPTIONS", "exitcode=86:halt_on_error=1");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace radpipe;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    (void)dicom::parse_reply(bytes);
  } catch (const std::runtime_error&) {
  }
  try {
    (void)dicom::parse_request(bytes);
  } catch (const std::runtime_error&) {
  }

  {
    std::ofstream out(scratch_file(), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  try {
    dicom::DicomReader reader(resolve_params(dicom::DicomReader::schema(), {{"path", scratch_file().string()}, {"timeout_s", 20.0}}),
                              StageContext{}, RADPIPE_DICOM_DECODER);
    for (;;) {
      try {
        const auto info = reader.next(); // counts the file's frames in a helper
        if (!info) break;
        (void)reader.load(*info);
      } catch (const SampleError& error) {
        if (std::string_view(error.what()).find(sanitizer_exit) != std::string_view::npos) __builtin_trap();
        break;
      }
    }
  } catch (const StageError&) { // not recognised as DICOM at all
  }
  return 0;
}
