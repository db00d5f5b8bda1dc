#include "isolated_decoder.hpp"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace radpipe::dicom_results {
namespace {

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
                                 std::chrono::milliseconds time_limit) {
  if (::access(program.c_str(), X_OK) != 0)
    throw DecodeFailure("the DICOM decoder " + program.string() +
                        " is missing or not executable; it belongs beside the plugins: reinstall radpipe");
  const auto mode = dicom::window_mode_named(window);
  if (!mode) throw DecodeFailure("unknown window \"" + window + "\" (tags, stored, full or percentile)");
  options_.window = *mode;
  options_.low_percentile = 0.5; // the dicom reader's default percentiles
  options_.high_percentile = 99.5;
  pool_ = std::make_shared<dicom::DecoderPool>(dicom::DecoderPoolOptions{std::move(program), 1, time_limit, 0});
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
  try {
    return pool_->decode(path, 1, options_);
  } catch (const dicom::DecoderFailure& failure) {
    throw DecodeFailure(failure.what());
  }
}

dicom::DecodedDicom IsolatedDecoder::decode_bytes(std::string_view bytes) const {
  const MemoryFile file(bytes);
  return decode_file(file.path());
}

} // namespace radpipe::dicom_results
