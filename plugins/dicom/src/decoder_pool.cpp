#include "decoder_pool.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <system_error>

#include "helper_process.hpp"

namespace radpipe::dicom {
namespace {

// The last non-empty line of a helper's stderr: an assertion message, say.
std::string last_line(const std::string& text) {
  std::istringstream lines(text);
  std::string line, last;
  while (std::getline(lines, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

// A file under the temporary folder holding given bytes, removed with the object.
class TemporaryFile {
 public:
  explicit TemporaryFile(std::string_view bytes) {
    std::string pattern = (std::filesystem::temp_directory_path() / "radpipe-dicom-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) throw DecoderFailure(std::string("cannot write a temporary file: ") + std::strerror(errno));
    path_ = pattern;
    const Descriptor file(fd);
    while (!bytes.empty()) {
      const ssize_t written = ::write(file.get(), bytes.data(), bytes.size());
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0)
        throw DecoderFailure(std::string("cannot write a temporary file: ") + std::strerror(errno));
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
  }
  ~TemporaryFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

} // namespace

struct DecoderPool::Slot {
  std::unique_ptr<HelperProcess> helper; // none until first needed, and after one failed
  bool busy = false;                     // lent to a thread, which alone touches the rest
  bool greeted = false;                  // its greeting was read and matched
  std::size_t served = 0;                // requests it answered
  std::uint64_t requests = 0;            // requests sent to it, numbering them
  std::string last_file;                 // it keeps a multi-frame file decoded: send its frames here
};

DecoderPool::DecoderPool(DecoderPoolOptions options) : options_(std::move(options)) {
  slots_.resize(std::max<std::size_t>(1, options_.size));
}

DecoderPool::~DecoderPool() = default;

std::size_t DecoderPool::size() const {
  return slots_.size();
}

std::size_t DecoderPool::helpers_started() const {
  std::lock_guard lock(mutex_);
  return started_;
}

std::size_t DecoderPool::acquire(const std::string& file) {
  std::unique_lock lock(mutex_);
  const auto idle = [&](const Slot& slot) { return !slot.busy; };
  freed_.wait(lock, [&] { return std::any_of(slots_.begin(), slots_.end(), idle); });
  // The helper that decoded this file last (its frames come one after another), else one already
  // running, else one to start.
  auto chosen = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& slot) {
    return idle(slot) && slot.helper && slot.last_file == file;
  });
  if (chosen == slots_.end())
    chosen = std::find_if(slots_.begin(), slots_.end(),
                          [&](const Slot& slot) { return idle(slot) && slot.helper; });
  if (chosen == slots_.end()) chosen = std::find_if(slots_.begin(), slots_.end(), idle);
  chosen->busy = true;
  return static_cast<std::size_t>(chosen - slots_.begin());
}

void DecoderPool::release(std::size_t index) {
  {
    std::lock_guard lock(mutex_);
    slots_[index].busy = false;
  }
  freed_.notify_one();
}

DecoderReply DecoderPool::call(const DecoderRequest& request, cv::Mat* image) {
  const std::size_t index = acquire(request.file);
  struct Release {
    DecoderPool& pool;
    std::size_t index;
    ~Release() { pool.release(index); }
  } release{*this, index};
  Slot& slot = slots_[index]; // ours alone until released

  if (!slot.helper) {
    try {
      slot.helper = std::make_unique<HelperProcess>(options_.program);
    } catch (const std::system_error& error) {
      throw DecoderFailure(std::string("the decoder could not be started: ") + error.what());
    }
    slot.greeted = false;
    slot.served = 0;
    slot.requests = 0;
    std::lock_guard lock(mutex_);
    ++started_;
  }
  HelperProcess& helper = *slot.helper;
  const auto deadline = std::chrono::steady_clock::now() + options_.time_limit;
  // A helper that fails in any way is dropped, and a fresh one started for the next request: it
  // may have been left in any state.
  const auto drop = [&](const std::string& why) {
    slot.helper.reset();
    slot.last_file.clear();
    return DecoderFailure(why);
  };

  DecoderRequest numbered = request;
  numbered.number = ++slot.requests;
  std::optional<std::string> line;
  std::optional<std::string> wrong_greeting;
  try {
    line = helper.exchange(encode_request(numbered), deadline);
    if (line && !slot.greeted) {
      if (*line == decoder_greeting) {
        slot.greeted = true;
        line = helper.exchange({}, deadline);
      } else {
        wrong_greeting = line->substr(0, 80);
      }
    }
  } catch (const std::runtime_error& error) {
    throw drop(error.what());
  }
  if (wrong_greeting)
    throw drop("the decoder " + options_.program.string() +
               " is not the radpipe-dicom-decoder of this radpipe (it began with \"" + *wrong_greeting +
               "\"); reinstall radpipe");
  if (!line) {
    const ProcessResult& ending = helper.ending();
    const std::string said = last_line(ending.err_tail);
    throw drop("the decoder " + describe_ending(ending, options_.time_limit) +
               (said.empty() ? "" : " (it said: " + said + ")") + "; the file is probably malformed");
  }

  DecoderReply reply;
  try {
    reply = parse_reply(*line);
    if (reply.request != numbered.number)
      throw std::runtime_error("the decoder answered request " + std::to_string(reply.request) +
                               " when asked " + std::to_string(numbered.number));
    if (reply.layout && image != nullptr) {
      const void* pixels = helper.shared_memory(reply.layout->bytes());
      image->create(reply.layout->rows, reply.layout->columns, reply.layout->cv_type());
      std::memcpy(image->data, pixels, reply.layout->bytes());
    }
  } catch (const std::runtime_error& error) {
    throw drop(error.what());
  }
  slot.last_file = request.file;
  if (++slot.served == options_.requests_per_helper) {
    slot.helper.reset(); // ends it
    slot.last_file.clear();
  }
  return reply;
}

DecodedDicom DecoderPool::decode(const std::string& file, int frame, const DecodeOptions& options) {
  DecoderRequest request;
  request.operation = DecoderRequest::Operation::Decode;
  request.file = file;
  request.frame = frame;
  request.options = options;
  DecodedDicom decoded;
  DecoderReply reply = call(request, &decoded.image);
  if (!reply.error.empty()) throw DecoderFailure(reply.error);
  if (!reply.header || !reply.layout)
    throw DecoderFailure("the decoder answered a decode request with no image");
  decoded.header = std::move(*reply.header);
  return decoded;
}

int DecoderPool::count_frames(const std::string& file) {
  DecoderRequest request;
  request.operation = DecoderRequest::Operation::CountFrames;
  request.file = file;
  const DecoderReply reply = call(request, nullptr);
  if (!reply.error.empty()) throw DecoderFailure(reply.error);
  if (!reply.frames) throw DecoderFailure("the decoder answered a frame count request with no count");
  return *reply.frames;
}

DecodedDicom DecoderPool::decode_bytes(std::string_view bytes, const DecodeOptions& options) {
  const TemporaryFile file(bytes);
  return decode(file.path(), 1, options);
}

} // namespace radpipe::dicom
