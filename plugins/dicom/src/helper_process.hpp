// A long-lived helper program in a process of its own, spoken to one line at a time, with a
// shared memory file for bulk data: a helper that crashes, aborts or hangs costs the caller one
// failed exchange and never the caller's process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "child_process.hpp"
#include "posix_io.hpp"

namespace radpipe::dicom {

class HelperProcess {
 public:
  using Deadline = std::chrono::steady_clock::time_point;

  // Starts `program` with its stdin and stdout on one socket, its stderr on a pipe, and a fresh
  // shared memory file as descriptor 3, which it may grow but never shrink. Throws
  // std::system_error when it cannot be started.
  explicit HelperProcess(const std::filesystem::path& program);
  // Ends it: end-of-file on its stdin, then SIGKILL if it has not exited within half a second.
  ~HelperProcess();
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;

  // Sends `line` and a newline (nothing when `line` is empty), then returns the next line the
  // helper writes, without its newline. Returns nullopt when the helper ended or closed its
  // stdout, or was still silent at `deadline` (it is then killed): ending() says how. Throws
  // std::runtime_error, after killing it, when it writes a line longer than 64 MiB.
  std::optional<std::string> exchange(std::string_view line, Deadline deadline);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // How it ended, with the end of what it wrote to stderr during the last exchange; meaningful
  // once exchange() returned nullopt.
  const ProcessResult& ending() const { return ending_; }

  // The first `bytes` of the shared memory, as the helper left them. Throws std::runtime_error
  // when the helper wrote fewer.
  const void* shared_memory(std::size_t bytes);

 private:
  bool send_all(std::string_view bytes, Deadline deadline);
  void collect_stderr();
  // Kills it if it still runs, reaps it, and records how it ended.
  void finish(bool timed_out);
  void unmap();

  pid_t pid_ = -1;
  Descriptor channel_;      // our end of its stdin and stdout
  Descriptor errors_;       // the read end of its stderr
  Descriptor memory_;       // the shared memory file
  std::string pending_;     // what it wrote after the last line returned
  std::string stderr_tail_; // what it wrote to stderr during the current exchange
  ProcessResult ending_;
  const void* mapping_ = nullptr;
  std::size_t mapped_size_ = 0;
};

} // namespace radpipe::dicom
