#include "io/atomic_file.hpp"

#include <radpipe/output_file.hpp>

#include <fstream>
#include <stdexcept>
#include <system_error>
#include <unistd.h>

namespace radpipe::host {
namespace fs = std::filesystem;

void write_file_atomically(const fs::path& target, const std::function<void(std::ostream&)>& write) {
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  fs::path temporary = target;
  temporary += ".tmp." + std::to_string(::getpid());
  struct RemoveOnFailure {
    const fs::path& path;
    bool armed = true;
    ~RemoveOnFailure() {
      std::error_code ignored;
      if (armed) fs::remove(path, ignored);
    }
  } cleanup{temporary};
  {
    std::ofstream stream(temporary, std::ios::binary | std::ios::trunc);
    if (!stream) throw std::runtime_error("cannot write " + temporary.string() + ": " + std::system_category().message(errno));
    write(stream);
    stream.flush();
    if (!stream) throw std::runtime_error("writing " + temporary.string() + " failed (disk full?)");
  }
  std::error_code error;
  fs::rename(temporary, target, error);
  if (error) throw std::runtime_error("cannot move " + temporary.string() + " to " + target.string() + ": " + error.message());
  cleanup.armed = false;
}

std::string csv_field(const std::string& text) { return radpipe::csv_field(text); }

} // namespace radpipe::host
