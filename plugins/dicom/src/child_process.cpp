#include "child_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "posix_io.hpp"

extern char** environ;

namespace radpipe::dicom {
namespace {

constexpr std::size_t stderr_tail_bytes = 4096;

} // namespace

ProcessResult run_process(const std::filesystem::path& program, const std::vector<std::string>& arguments,
                          std::chrono::milliseconds time_limit) {
  Pipe out = make_pipe();
  Pipe err = make_pipe();

  SpawnActions actions;
  ::posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(actions.get(), out.write_end.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(actions.get(), err.write_end.get(), STDERR_FILENO);

  const std::string program_name = program.string();
  std::vector<std::string> storage;
  storage.reserve(arguments.size() + 1);
  storage.push_back(program_name);
  storage.insert(storage.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& argument : storage) argv.push_back(argument.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  if (const int error =
          ::posix_spawn(&pid, program_name.c_str(), actions.get(), nullptr, argv.data(), environ);
      error != 0)
    throw_errno(error, "cannot start " + program_name);
  out.write_end.close();
  err.write_end.close();

  ProcessResult result;
  std::string err_text;
  const auto deadline = std::chrono::steady_clock::now() + time_limit;
  while (out.read_end.open() || err.read_end.open()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    std::array<pollfd, 2> watched{{{out.read_end.get(), POLLIN, 0}, {err.read_end.get(), POLLIN, 0}}};
    const int ready =
        ::poll(watched.data(), watched.size(), static_cast<int>(std::min<long>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) {
      ::kill(pid, SIGKILL);
      wait_for(pid);
      throw_errno(errno, "cannot wait for " + program_name);
    }
    if (ready <= 0) continue;
    // A closed descriptor (-1) in a pollfd is ignored by poll and reports no events.
    if (watched[0].revents != 0 && !drain(out.read_end.get(), result.out)) out.read_end.close();
    if (watched[1].revents != 0) {
      if (!drain(err.read_end.get(), err_text)) err.read_end.close();
      if (err_text.size() > 2 * stderr_tail_bytes) err_text.erase(0, err_text.size() - stderr_tail_bytes);
    }
  }
  const int status = wait_for(pid);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  if (err_text.size() > stderr_tail_bytes) err_text.erase(0, err_text.size() - stderr_tail_bytes);
  result.err_tail = std::move(err_text);
  return result;
}

std::string describe_ending(const ProcessResult& result, std::chrono::milliseconds time_limit) {
  if (result.timed_out) {
    std::array<char, 32> seconds{};
    std::snprintf(seconds.data(), seconds.size(), "%g", static_cast<double>(time_limit.count()) / 1000.0);
    return "ran past the time limit of " + std::string(seconds.data()) + " s and was killed";
  }
  if (result.signal != 0)
    return "was killed by signal " + std::to_string(result.signal) + " (" + ::strsignal(result.signal) + ")";
  return "exited with code " + std::to_string(result.exit_code);
}

} // namespace radpipe::dicom
