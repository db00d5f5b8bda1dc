#include "io/atomic_file.hpp"

#include <radpipe/output_file.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <streambuf>
#include <system_error>
#include <unistd.h>

namespace radpipe::host {
namespace fs = std::filesystem;

namespace {

std::string system_reason(int error) { return std::system_category().message(error); }

// RADPIPE_TEST_KILL_AT_FILE_OP, read once: 0 when unset or not a positive number.
std::size_t kill_at_operation() {
  static const std::size_t value = [] {
    const char* text = std::getenv("RADPIPE_TEST_KILL_AT_FILE_OP");
    if (text == nullptr) return std::size_t{0};
    char* end = nullptr;
    const unsigned long long number = std::strtoull(text, &end, 10);
    return end != text && *end == '\0' ? static_cast<std::size_t>(number) : std::size_t{0};
  }();
  return value;
}

std::atomic<std::size_t> operations_done{0};

void before_operation() {
  const std::size_t number = ++operations_done;
  if (number == kill_at_operation()) ::kill(::getpid(), SIGKILL);
}

// A stream buffer over a file descriptor that keeps the errno of a failed write, so that the
// message can say "No space left on device" instead of "the stream failed".
class DescriptorBuffer : public std::streambuf {
public:
  explicit DescriptorBuffer(int descriptor) : descriptor_(descriptor) { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
  int error() const { return error_; }

protected:
  int_type overflow(int_type character) override {
    if (!flush_buffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(character, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(character);
      pbump(1);
    }
    return traits_type::not_eof(character);
  }
  int sync() override { return flush_buffer() ? 0 : -1; }

private:
  bool flush_buffer() {
    const char* data = pbase();
    std::size_t left = static_cast<std::size_t>(pptr() - pbase());
    while (left > 0 && error_ == 0) {
      const ssize_t written = ::write(descriptor_, data, left);
      if (written < 0) {
        if (errno != EINTR) error_ = errno;
        continue;
      }
      data += written;
      left -= static_cast<std::size_t>(written);
    }
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return error_ == 0;
  }

  int descriptor_;
  int error_ = 0;
  std::array<char, 64 * 1024> buffer_{};
};

class Descriptor {
public:
  explicit Descriptor(int descriptor) : descriptor_(descriptor) {}
  ~Descriptor() {
    if (descriptor_ >= 0) ::close(descriptor_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return descriptor_; }
  // Closes now, reporting the error a deferred write may only show here (NFS, quota).
  int close() {
    const int result = ::close(descriptor_);
    descriptor_ = -1;
    return result == 0 ? 0 : errno;
  }

private:
  int descriptor_;
};

void sync_folder(const fs::path& folder) {
  Descriptor descriptor(::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (descriptor.get() >= 0) ::fsync(descriptor.get()); // best effort: some file systems refuse it
}

fs::path temporary_beside(const fs::path& target) {
  fs::path temporary = target;
  temporary += ".tmp." + std::to_string(::getpid());
  return temporary;
}

// Writes and syncs `temporary` (one counted operation). Throws naming `target`.
void write_temporary(const fs::path& temporary, const fs::path& target, const std::function<void(std::ostream&)>& write) {
  before_operation();
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  Descriptor descriptor(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (descriptor.get() < 0) throw std::runtime_error("cannot write " + target.string() + ": " + system_reason(errno));
  DescriptorBuffer buffer(descriptor.get());
  std::ostream stream(&buffer);
  write(stream);
  stream.flush();
  int error = buffer.error();
  if (error == 0 && !stream) error = EIO;
  if (error == 0 && ::fsync(descriptor.get()) != 0) error = errno;
  if (error == 0) error = descriptor.close();
  if (error != 0) throw std::runtime_error("writing " + target.string() + " failed: " + system_reason(error));
}

struct RemoveOnFailure {
  std::vector<fs::path> paths;
  bool armed = true;
  ~RemoveOnFailure() {
    std::error_code ignored;
    if (armed)
      for (const auto& path : paths) fs::remove(path, ignored);
  }
};

// The temporaries radpipe writes end in ".tmp.PID" (write_file_atomically) or ".partial.PID" and
// ".errors.PID" (gnuplot figures). Those of a process that no longer runs are a kill's leftovers.
void remove_stale_temporaries(const fs::path& folder) {
  std::error_code error;
  for (fs::directory_iterator entry(folder, error), end; !error && entry != end; entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    const auto dot = name.rfind('.');
    if (dot == std::string::npos || dot + 1 == name.size()) continue;
    const std::string_view digits = std::string_view(name).substr(dot + 1);
    if (digits.find_first_not_of("0123456789") != std::string_view::npos || digits.size() > 9) continue;
    const std::string_view stem = std::string_view(name).substr(0, dot);
    if (!stem.ends_with(".tmp") && !stem.ends_with(".partial") && !stem.ends_with(".errors")) continue;
    const auto pid = static_cast<pid_t>(std::stol(std::string(digits)));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue; // running, or not ours to judge
    std::error_code ignored;
    if (entry->is_regular_file(ignored)) fs::remove(entry->path(), ignored);
  }
}

} // namespace

void count_file_operation(std::string_view /*what*/, const fs::path& /*path*/) { before_operation(); }

void rename_durably(const fs::path& from, const fs::path& to) {
  before_operation();
  std::error_code error;
  fs::rename(from, to, error);
  if (error) throw std::runtime_error("cannot move " + from.string() + " to " + to.string() + ": " + error.message());
  sync_folder(to.parent_path());
}

void sync_folder_contents(const fs::path& folder) {
  std::error_code error;
  for (fs::directory_iterator entry(folder, error), end; !error && entry != end; entry.increment(error)) {
    Descriptor descriptor(::open(entry->path().c_str(), O_RDONLY | O_CLOEXEC));
    if (descriptor.get() >= 0 && ::fsync(descriptor.get()) != 0)
      throw std::runtime_error("cannot sync " + entry->path().string() + " to disk: " + system_reason(errno));
  }
  sync_folder(folder);
}

void link_or_copy_durably(const fs::path& from, const fs::path& to) {
  before_operation();
  std::error_code error;
  fs::create_hard_link(from, to, error);
  if (error) {
    error.clear();
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, error);
    if (error) throw std::runtime_error("cannot copy " + from.string() + " to " + to.string() + ": " + error.message());
    Descriptor descriptor(::open(to.c_str(), O_RDONLY | O_CLOEXEC));
    if (descriptor.get() < 0 || ::fsync(descriptor.get()) != 0)
      throw std::runtime_error("cannot sync " + to.string() + " to disk: " + system_reason(errno));
  }
  sync_folder(to.parent_path());
}

void create_folder(const fs::path& folder) {
  before_operation();
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) throw std::runtime_error("cannot create folder " + folder.string() + ": " + error.message());
  sync_folder(folder.parent_path());
}

void remove_all_durably(const fs::path& path) {
  before_operation();
  std::error_code error;
  if (fs::remove_all(path, error) > 0) sync_folder(path.parent_path());
  if (error) throw std::runtime_error("cannot remove " + path.string() + ": " + error.message());
}

void write_file_atomically(const fs::path& target, const std::function<void(std::ostream&)>& write) {
  const fs::path temporary = temporary_beside(target);
  RemoveOnFailure cleanup{{temporary}};
  write_temporary(temporary, target, write);
  rename_durably(temporary, target);
  cleanup.armed = false;
}

void write_bytes_atomically(const fs::path& target, std::string_view bytes) {
  write_file_atomically(target, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

void write_file_set_atomically(const std::vector<PendingFile>& files) {
  if (files.empty()) return;
  RemoveOnFailure cleanup;
  for (const auto& file : files) {
    cleanup.paths.push_back(temporary_beside(file.target));
    write_temporary(cleanup.paths.back(), file.target, file.write);
  }
  const fs::path& record = files.back().target;
  remove_all_durably(record);
  for (std::size_t i = 0; i < files.size(); ++i) rename_durably(cleanup.paths[i], files[i].target);
  cleanup.armed = false;
}

void prepare_output_folder(const fs::path& folder, std::string_view option) {
  const std::string where = std::string(option) + " " + folder.string();
  std::error_code error;
  const auto status = fs::status(folder, error);
  if (fs::exists(status) && !fs::is_directory(status))
    throw OutputPathError(where + " is an existing file, not a folder: give a folder for the outputs");
  if (!fs::exists(status)) {
    fs::create_directories(folder, error);
    if (error) throw OutputPathError("cannot create " + where + ": " + error.message());
  }
  // access(W_OK) misses read-only mounts on some file systems and ACLs; a real file does not.
  const fs::path probe = folder / (".radpipe-write-test." + std::to_string(::getpid()));
  const int descriptor = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (descriptor < 0) throw OutputPathError("cannot write into " + where + ": " + system_reason(errno));
  ::close(descriptor);
  ::unlink(probe.c_str());
  remove_stale_temporaries(folder);
}

void prepare_output_file(const fs::path& file, std::string_view option) {
  std::error_code error;
  if (fs::is_directory(file, error))
    throw OutputPathError(std::string(option) + " " + file.string() + " is a folder: give the name of the file to write");
  prepare_output_folder(file.has_parent_path() ? file.parent_path() : fs::path("."), std::string(option) + "'s folder");
}

std::string csv_field(const std::string& text) { return radpipe::csv_field(text); }

} // namespace radpipe::host
