#include "helper_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace radpipe::dicom {
namespace {

constexpr std::size_t stderr_tail_bytes = 4096;
constexpr std::size_t longest_line = std::size_t{64} << 20;
constexpr int helper_memory_fd = 3;

// Descriptors handed to the helper are moved above 0..3 first: posix_spawn's dup2 onto the same
// number would keep the close-on-exec flag, and an end sitting at 0..2 (a host that closed its
// own stdin) would be overwritten by an earlier dup2 before it is copied.
Descriptor above_standard(Descriptor fd) {
  if (fd.get() > helper_memory_fd) return fd;
  const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, helper_memory_fd + 1);
  if (moved < 0) throw_errno(errno, "cannot move a descriptor for the decoder");
  return Descriptor(moved);
}

int milliseconds_until(HelperProcess::Deadline deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
          .count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1000));
}

} // namespace

HelperProcess::HelperProcess(const std::filesystem::path& program) {
  std::array<int, 2> sockets{};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets.data()) != 0)
    throw_errno(errno, "cannot create a socket for the decoder");
  channel_ = above_standard(Descriptor(sockets[0]));
  Descriptor child_channel = above_standard(Descriptor(sockets[1]));
  Pipe errors = make_pipe();
  errors.write_end = above_standard(std::move(errors.write_end));
  memory_ =
      above_standard(Descriptor(::memfd_create("radpipe-dicom-pixels", MFD_CLOEXEC | MFD_ALLOW_SEALING)));
  if (!memory_.open()) throw_errno(errno, "cannot create shared memory for the decoder");
  // The helper may grow the memory but never shrink it, so our mapping can never reach past its
  // end (which would be SIGBUS here), whatever the helper does.
  if (::fcntl(memory_.get(), F_ADD_SEALS, F_SEAL_SHRINK) != 0)
    throw_errno(errno, "cannot seal the decoder's shared memory");

  SpawnActions actions;
  ::posix_spawn_file_actions_adddup2(actions.get(), child_channel.get(), STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(actions.get(), child_channel.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(actions.get(), errors.write_end.get(), STDERR_FILENO);
  ::posix_spawn_file_actions_adddup2(actions.get(), memory_.get(), helper_memory_fd);

  std::string program_name = program.string();
  std::vector<char*> argv{program_name.data(), nullptr};
  if (const int error =
          ::posix_spawn(&pid_, program_name.c_str(), actions.get(), nullptr, argv.data(), environ);
      error != 0) {
    pid_ = -1;
    throw_errno(error, "cannot start " + program_name);
  }
  errors_ = std::move(errors.read_end);
}

HelperProcess::~HelperProcess() {
  unmap();
  if (!running()) return;
  channel_.close(); // end-of-file on its stdin: it exits by itself
  const auto patience = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  int status = 0;
  while (std::chrono::steady_clock::now() < patience) {
    const pid_t ended = ::waitpid(pid_, &status, WNOHANG);
    if (ended == pid_ || (ended < 0 && errno != EINTR)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(pid_, SIGKILL);
  wait_for(pid_);
}

bool HelperProcess::send_all(std::string_view bytes, Deadline deadline) {
  while (!bytes.empty()) {
    // MSG_NOSIGNAL: writing to a helper that died must be an error here, not a SIGPIPE that
    // ends radpipe.
    const ssize_t sent = ::send(channel_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(sent));
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (std::chrono::steady_clock::now() >= deadline) {
        finish(true);
        return false;
      }
      pollfd writable{channel_.get(), POLLOUT, 0};
      ::poll(&writable, 1, milliseconds_until(deadline));
      continue;
    }
    return false; // EPIPE or ECONNRESET: it is gone; reading finds out how
  }
  return true;
}

std::optional<std::string> HelperProcess::exchange(std::string_view line, Deadline deadline) {
  if (!running()) return std::nullopt;
  stderr_tail_.clear();
  if (!line.empty()) {
    std::string framed(line);
    framed += '\n';
    if (!send_all(framed, deadline) && !running()) return std::nullopt;
  }
  std::size_t searched = 0;
  while (true) {
    if (const auto end = pending_.find('\n', searched); end != std::string::npos) {
      std::string answer = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      return answer;
    }
    searched = pending_.size();
    if (pending_.size() > longest_line) {
      finish(false);
      throw std::runtime_error("the decoder wrote an answer longer than 64 MiB");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      finish(true);
      return std::nullopt;
    }
    std::array<pollfd, 2> watched{{{channel_.get(), POLLIN, 0}, {errors_.get(), POLLIN, 0}}};
    const int ready = ::poll(watched.data(), watched.size(), milliseconds_until(deadline));
    if (ready <= 0) continue; // timeout (checked above) or EINTR
    // A closed descriptor (-1) in a pollfd is ignored by poll and reports no events.
    if (watched[1].revents != 0) collect_stderr();
    if (watched[0].revents != 0) {
      std::array<char, 65536> buffer{};
      const ssize_t count = ::recv(channel_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (count > 0) {
        pending_.append(buffer.data(), static_cast<std::size_t>(count));
      } else if (count == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
        finish(false); // it closed its stdout: it died, or is about to
        return std::nullopt;
      }
    }
  }
}

void HelperProcess::collect_stderr() {
  if (!errors_.open()) return;
  if (!drain(errors_.get(), stderr_tail_)) errors_.close();
  if (stderr_tail_.size() > 2 * stderr_tail_bytes)
    stderr_tail_.erase(0, stderr_tail_.size() - stderr_tail_bytes);
}

void HelperProcess::finish(bool timed_out) {
  if (!timed_out) {
    // What a dying helper said last (an assertion, say) may still be on its way; its stderr
    // closes when it exits, so this waits only for one that closed its stdout and lives on.
    const auto patience = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (errors_.open() && std::chrono::steady_clock::now() < patience) {
      pollfd readable{errors_.get(), POLLIN, 0};
      if (::poll(&readable, 1, milliseconds_until(patience)) > 0) collect_stderr();
    }
  }
  ::kill(pid_, SIGKILL); // no effect on one that already ended: its status stays how it ended
  const int status = wait_for(pid_);
  pid_ = -1;
  channel_.close();
  errors_.close();
  pending_.clear();
  ending_ = ProcessResult{};
  ending_.timed_out = timed_out;
  if (WIFEXITED(status)) ending_.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) ending_.signal = WTERMSIG(status);
  if (stderr_tail_.size() > stderr_tail_bytes) stderr_tail_.erase(0, stderr_tail_.size() - stderr_tail_bytes);
  ending_.err_tail = stderr_tail_;
}

const void* HelperProcess::shared_memory(std::size_t bytes) {
  struct stat status {};
  if (::fstat(memory_.get(), &status) != 0) throw_errno(errno, "cannot inspect the decoder's shared memory");
  const auto size = static_cast<std::size_t>(status.st_size);
  if (size < bytes)
    throw std::runtime_error("the decoder described " + std::to_string(bytes) +
                             " bytes of pixels but wrote " + std::to_string(size));
  if (mapping_ == nullptr || mapped_size_ < bytes) {
    unmap();
    void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, memory_.get(), 0);
    if (mapping == MAP_FAILED) throw_errno(errno, "cannot map the decoder's shared memory");
    mapping_ = mapping;
    mapped_size_ = size;
  }
  return mapping_;
}

void HelperProcess::unmap() {
  if (mapping_ != nullptr) ::munmap(const_cast<void*>(mapping_), mapped_size_);
  mapping_ = nullptr;
  mapped_size_ = 0;
}

} // namespace radpipe::dicom
