// A streaming reader of RFC 4180 CSV records: one record per call, so that large files are never
// held in memory.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace radpipe::readers {

struct CsvRecord {
  std::vector<std::string> fields;
  std::size_t line = 0; // 1-based line on which the record starts, for error messages
};

// Reads quoted fields (with "" for a quote and line breaks inside quotes), CRLF or LF line ends
// and a leading UTF-8 byte order mark. Blank lines between records are skipped. Malformed input
// throws StageError on `parameter_key` with a `file:line:` prefix.
class CsvRecordReader {
 public:
  CsvRecordReader(std::filesystem::path file, std::string parameter_key);

  // The next record, or nullopt at the end of the file.
  std::optional<CsvRecord> next();

  const std::filesystem::path& file() const { return file_; }

 private:
  bool read_line(std::string& line);
  [[noreturn]] void fail(std::size_t line, const std::string& message) const;

  std::filesystem::path file_;
  std::string parameter_key_;
  std::ifstream in_;
  std::size_t lines_read_ = 0;
};

} // namespace radpipe::readers
