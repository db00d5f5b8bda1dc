#include "radpipe/cli.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

namespace radpipe::testing {

std::string read_text(const std::filesystem::path& file) {
  std::ifstream stream(file, std::ios::binary);
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

CommandResult run_command(const std::string& command) {
  std::random_device entropy;
  const auto err =
      std::filesystem::temp_directory_path() / ("radpipe-stderr-" + std::to_string(entropy()) + ".txt");
  CommandResult run;
  {
    struct PipeCloser {
      int* status;
      void operator()(FILE* pipe) const { *status = ::pclose(pipe); }
    };
    int status = -1;
    {
      std::unique_ptr<FILE, PipeCloser> pipe(::popen((command + " 2>" + err.string()).c_str(), "r"),
                                             PipeCloser{&status});
      if (!pipe) return run;
      std::array<char, 4096> buffer{};
      std::size_t count;
      while ((count = std::fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0)
        run.out.append(buffer.data(), count);
    }
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  run.err = read_text(err);
  std::filesystem::remove(err);
  return run;
}

} // namespace radpipe::testing
