// radpipe SDK: the one way a writer stage appends lines to a result file, so that a killed run
// leaves whole lines only and `predict --resume` can append to it.
#pragma once

#include <radpipe/stages.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace radpipe {

/// `name` joined to `out_dir`, refused (std::invalid_argument) when it would leave the folder:
/// absolute names, `..` components, empty names. Every file a writer makes goes through this.
std::filesystem::path output_path_inside(const std::filesystem::path& out_dir, const std::string& name);

/// A name made from a sample field (an id, a study path) safe as one file name inside a folder:
/// path separators and control characters become '_', and so do leading dots (no ".", "..", or
/// hidden files). Never empty.
std::string safe_file_name(std::string_view text);

/// Quotes a CSV field when it needs it (RFC 4180).
std::string csv_field(const std::string& text);

/// An append-only line file inside a run's out_dir. On a fresh run it starts empty and gets
/// `header` (when not empty); with run.resume it is cut back to the size run.json committed for
/// it (a file run.json does not list restarts empty) and appended to.
class OutputFile {
public:
  /// Opens (or, with run.resume, reopens and cuts back) the file `name` inside run.out_dir.
  OutputFile(const WriterRun& run, const std::string& name, const std::string& header = {});
  OutputFile(const OutputFile&) = delete;            ///< One owner per file.
  OutputFile& operator=(const OutputFile&) = delete; ///< One owner per file.

  /// Buffers one line; `line` ends without '\n'.
  void write_line(std::string_view line);
  /// Flushes the whole lines written so far to the operating system: its state as committed.
  CommittedFile commit();
  /// Commits and closes the file. Closing twice does nothing.
  void close();

private:
  std::string name_;
  std::filesystem::path path_;
  std::ofstream stream_;
  std::uint64_t bytes_ = 0;
};

} // namespace radpipe
