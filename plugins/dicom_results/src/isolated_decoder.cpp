#include "isolated_decoder.hpp"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <system_error>

#include "child_process.hpp"

namespace radpipe::dicom_results {
namespace {

// The last non-empty line of a helper's stderr: an assertion message, say.
std::string last_line(const std::string& text) {
  std::istringstream lines(text);
  std::string line, last;
  while (std::getline(lines, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

// An anonymous file in memory, closed (and gone) with this object.
class MemoryFile {
 public:
  explicit MemoryFile(std::string_view bytes) : fd_(::memfd_create("radpipe-dicom", MFD_CLOEXEC)) {
    if (fd_ < 0)
      throw DecodeFailure(std::string("cannot make a memory file for the decoder: ") + std::strerror(errno));
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t count = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (count < 0 && errno == EINTR) continue;
      if (count <= 0) {
        const int error = errno;
        ::close(fd_);
        throw DecodeFailure(std::string("cannot fill a memory file for the decoder: ") +
                            std::strerror(error));
      }
      done += static_cast<std::size_t>(count);
    }
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // A path the decoder process can open: our descriptor, seen through /proc. The descriptor is
  // close-on-exec, so no other helper started meanwhile inherits it.
  std::string path() const { return "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

} // namespace

IsolatedDecoder::IsolatedDecoder(std::filesystem::path program, std::string window,
                                 std::chrono::milliseconds time_limit)
    : program_(std::move(program)), arguments_{"--window", std::move(window)}, time_limit_(time_limit) {
  if (::access(program_.c_str(), X_OK) != 0)
    throw DecodeFailure("the DICOM decoder " + program_.string() +
                        " is missing or not executable; it belongs beside the plugins: reinstall radpipe");
}

std::filesystem::path IsolatedDecoder::installed_program() {
  Dl_info library{};
  if (::dladdr(reinterpret_cast<const void*>(&IsolatedDecoder::installed_program), &library) == 0 ||
      library.dli_fname == nullptr)
    throw DecodeFailure(
        "cannot tell which file this plugin was loaded from, so the DICOM decoder cannot be found");
  return std::filesystem::absolute(library.dli_fname).parent_path() / "radpipe-dicom-decoder";
}

dicom::DecodedDicom IsolatedDecoder::decode_file(const std::string& path) const {
  std::vector<std::string> arguments = arguments_;
  arguments.push_back(path);
  dicom::ProcessResult run;
  try {
    run = dicom::run_process(program_, arguments, time_limit_);
  } catch (const std::system_error& error) {
    throw DecodeFailure(std::string("the decoder could not be started: ") + error.what());
  }
  if (!run.succeeded()) {
    const std::string said = last_line(run.err_tail);
    throw DecodeFailure("the decoder " + dicom::describe_ending(run, time_limit_) +
                        (said.empty() ? "" : " (it said: " + said + ")") +
                        "; the image is probably malformed");
  }
  dicom::DecoderReply reply;
  try {
    reply = dicom::parse_reply(run.out);
  } catch (const std::exception& error) {
    throw DecodeFailure(error.what());
  }
  if (!reply.image) throw DecodeFailure(reply.error);
  return std::move(*reply.image);
}

dicom::DecodedDicom IsolatedDecoder::decode_bytes(std::string_view bytes) const {
  const MemoryFile file(bytes);
  return decode_file(file.path());
}

} // namespace radpipe::dicom_results
