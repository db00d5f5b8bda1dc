// Runs a helper program in its own process and collects what it prints, so that a helper that
// crashes, aborts or hangs costs the caller one failed call and never the caller's process.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace radpipe::dicom {

struct ProcessResult {
  bool timed_out = false; // killed because it ran past the time limit
  int exit_code = -1;     // when it exited normally
  int signal = 0;         // the signal that ended it, 0 when it exited normally
  std::string out;        // everything it wrote to stdout
  std::string err_tail;   // the end of what it wrote to stderr (at most a few KiB)

  bool succeeded() const { return !timed_out && signal == 0 && exit_code == 0; }
};

// Runs `program` with `arguments` (argv[1...]), stdin from /dev/null, and waits for it to end or
// for `time_limit` to pass, whichever comes first; past the limit it is killed. Thread-safe:
// several threads may run helpers at once (the pipes are close-on-exec, so no helper inherits
// another's). Throws std::system_error only when the process cannot be started.
ProcessResult run_process(const std::filesystem::path& program, const std::vector<std::string>& arguments,
                          std::chrono::milliseconds time_limit);

// How the process ended, for an error message: "exited with code 3", "was killed by signal 6
// (Aborted)", "ran past the time limit of 60 s and was killed".
std::string describe_ending(const ProcessResult& result, std::chrono::milliseconds time_limit);

} // namespace radpipe::dicom
