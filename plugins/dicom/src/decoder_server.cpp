#include "decoder_server.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <new>
#include <string>
#include <system_error>

#include "dicom_decode.hpp"

namespace radpipe::dicom {
namespace {

// The helper's view of the shared pixel memory: mapped once, remapped only when it must grow.
class SharedPixels {
 public:
  explicit SharedPixels(int fd) : fd_(fd) {}
  ~SharedPixels() { unmap(); }
  SharedPixels(const SharedPixels&) = delete;
  SharedPixels& operator=(const SharedPixels&) = delete;

  // At least `bytes` of writable shared memory. Throws std::system_error when it cannot grow.
  void* reserve(std::size_t bytes) {
    if (bytes <= mapped_size_ && mapping_ != nullptr) return mapping_;
    struct stat status {};
    if (::fstat(fd_, &status) != 0) throw std::system_error(errno, std::generic_category(), "fstat");
    if (static_cast<std::size_t>(status.st_size) < bytes && ::ftruncate(fd_, static_cast<off_t>(bytes)) != 0)
      throw std::system_error(errno, std::generic_category(), "cannot grow the shared pixel memory");
    unmap();
    void* mapping = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (mapping == MAP_FAILED)
      throw std::system_error(errno, std::generic_category(), "cannot map the shared pixel memory");
    mapping_ = mapping;
    mapped_size_ = bytes;
    return mapping_;
  }

 private:
  void unmap() {
    if (mapping_ != nullptr) ::munmap(mapping_, mapped_size_);
    mapping_ = nullptr;
    mapped_size_ = 0;
  }

  int fd_;
  void* mapping_ = nullptr;
  std::size_t mapped_size_ = 0;
};

std::string answer(const DecoderRequest& request, DicomDecoder& decoder, SharedPixels& shared) {
  if (request.operation == DecoderRequest::Operation::CountFrames)
    return encode_frame_count(request.number, decoder.count_frames(request.file));
  const DecodedDicom decoded =
      decoder.decode(request.file, request.frame, request.options, [&](int rows, int columns, int type) {
        const std::size_t bytes =
            static_cast<std::size_t>(rows) * static_cast<std::size_t>(columns) * CV_ELEM_SIZE(type);
        return cv::Mat(rows, columns, type, shared.reserve(bytes));
      });
  PixelLayout layout;
  layout.rows = decoded.image.rows;
  layout.columns = decoded.image.cols;
  layout.channels = decoded.image.channels();
  layout.bits = decoded.image.depth() == CV_8U ? 8 : 16;
  return encode_decoded(request.number, decoded.header, layout);
}

} // namespace

int serve_decoder(int pixels_fd, const std::function<void(const DecoderRequest&)>& before_each) {
  std::ios::sync_with_stdio(false);
  SharedPixels shared(pixels_fd);
  DicomDecoder decoder;
  std::cout << decoder_greeting << '\n' << std::flush;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string reply;
    std::uint64_t number = 0; // 0 until the request is read: an answer the reader will not take
    try {
      const DecoderRequest request = parse_request(line);
      number = request.number;
      if (before_each) before_each(request);
      reply = answer(request, decoder, shared);
    } catch (const DecodeError& error) {
      reply = encode_failure(number, error.what());
    } catch (const std::bad_alloc&) {
      reply = encode_failure(number, "not enough memory to decode it (is its image size plausible?)");
    } catch (const std::system_error& error) {
      reply =
          encode_failure(number, std::string("the decoder could not hand its pixels over: ") + error.what());
    } catch (const std::exception& error) {
      reply = encode_failure(number, std::string("GDCM failed: ") + error.what());
    }
    std::cout << reply << '\n' << std::flush;
    if (!std::cout) return 1;
  }
  return 0;
}

} // namespace radpipe::dicom
