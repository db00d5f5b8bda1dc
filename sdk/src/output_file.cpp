#include <radpipe/output_file.hpp>

#include <stdexcept>
#include <system_error>

namespace radpipe {
namespace fs = std::filesystem;

fs::path output_path_inside(const fs::path& out_dir, const std::string& name) {
  const fs::path relative(name);
  if (name.empty() || relative.is_absolute() || relative.has_root_name() || relative.has_root_directory())
    throw std::invalid_argument("output name '" + name + "' is not a relative path inside the output folder");
  for (const auto& part : relative)
    if (part == "..") throw std::invalid_argument("output name '" + name + "' would leave the output folder");
  return out_dir / relative.lexically_normal();
}

std::string safe_file_name(std::string_view text) {
  std::string name;
  for (char character : text) {
    const auto code = static_cast<unsigned char>(character);
    name += (character == '/' || character == '\\' || character == ':' || code < 0x20 || code == 0x7f) ? '_' : character;
  }
  // Leading dots would make hidden files, "." or "..".
  for (char& character : name) {
    if (character != '.') break;
    character = '_';
  }
  return name.empty() ? std::string("_") : name;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char character : text) {
    if (character == '"') quoted += '"';
    quoted += character;
  }
  return quoted + '"';
}

OutputFile::OutputFile(const WriterRun& run, const std::string& name, const std::string& header)
    : name_(name), path_(output_path_inside(run.out_dir, name)) {
  fs::create_directories(path_.parent_path());
  std::uint64_t keep = 0;
  if (run.resume)
    if (auto found = run.committed_bytes.find(name); found != run.committed_bytes.end()) keep = found->second;
  std::error_code error;
  const bool exists = fs::exists(path_, error);
  if (keep > 0 && exists) {
    const auto size = fs::file_size(path_);
    if (size < keep)
      throw std::runtime_error(path_.string() + " holds " + std::to_string(size) + " bytes but run.json committed " +
                               std::to_string(keep) + ": the file was changed after the run; cannot resume");
    fs::resize_file(path_, keep); // drops a partial last line and anything written after the last commit
  } else {
    keep = 0;
  }
  stream_.open(path_, keep > 0 ? std::ios::binary | std::ios::app : std::ios::binary | std::ios::trunc);
  if (!stream_) throw std::runtime_error("cannot open " + path_.string() + " for writing");
  bytes_ = keep;
  if (keep == 0 && !header.empty()) write_line(header);
}

void OutputFile::write_line(std::string_view line) {
  stream_ << line << '\n';
  bytes_ += line.size() + 1;
}

CommittedFile OutputFile::commit() {
  if (stream_.is_open()) {
    stream_.flush();
    if (!stream_) throw std::runtime_error("cannot write " + path_.string());
  }
  return {name_, bytes_};
}

void OutputFile::close() {
  if (!stream_.is_open()) return;
  commit();
  stream_.close();
}

} // namespace radpipe
