// radpipe-dicom-decoder: decodes one DICOM file and writes it to stdout in the format of
// decoder_protocol.hpp. The `dicom` reader runs it once per file, so that a file on which GDCM
// aborts or crashes ends this process and not radpipe.
//
//   radpipe-dicom-decoder [--window tags|full|percentile] [--percentiles LOW HIGH] FILE
#include <cstdlib>
#include <iostream>
#include <new>
#include <string>
#include <string_view>

#include "dicom_decode.hpp"

namespace {

int usage(const std::string& problem) {
  std::cerr
      << "radpipe-dicom-decoder: " << problem
      << "\nusage: radpipe-dicom-decoder [--window tags|full|percentile] [--percentiles LOW HIGH] FILE\n";
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  using namespace radpipe::dicom;
  WindowOptions options;
  std::string file;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument == "--window" && i + 1 < argc) {
      const std::string_view mode = argv[++i];
      if (mode == "tags")
        options.mode = WindowMode::Tags;
      else if (mode == "full")
        options.mode = WindowMode::Full;
      else if (mode == "percentile")
        options.mode = WindowMode::Percentile;
      else
        return usage("unknown window mode " + std::string(mode));
    } else if (argument == "--percentiles" && i + 2 < argc) {
      options.low_percentile = std::strtod(argv[++i], nullptr);
      options.high_percentile = std::strtod(argv[++i], nullptr);
    } else if (!argument.starts_with("--") && file.empty()) {
      file = argument;
    } else {
      return usage("unexpected argument " + std::string(argument));
    }
  }
  if (file.empty()) return usage("no file given");

  std::ios::sync_with_stdio(false);
  try {
    write_reply(std::cout, decode_dicom_file(file, options));
  } catch (const DecodeError& error) {
    write_failure(std::cout, error.what());
  } catch (const std::bad_alloc&) {
    write_failure(std::cout, "not enough memory to decode it (is its image size plausible?)");
  } catch (const std::exception& error) {
    write_failure(std::cout, std::string("GDCM failed: ") + error.what());
  }
  std::cout.flush();
  return std::cout ? 0 : 1;
}
