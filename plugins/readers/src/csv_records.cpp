#include "csv_records.hpp"

#include <radpipe/error.hpp>
#include <string_view>

namespace radpipe::readers {
namespace {
constexpr std::string_view utf8_byte_order_mark = "\xEF\xBB\xBF";
}

CsvRecordReader::CsvRecordReader(std::filesystem::path file, std::string parameter_key)
    : file_(std::move(file)), parameter_key_(std::move(parameter_key)), in_(file_, std::ios::binary) {
  if (!in_)
    throw StageError(parameter_key_,
                     "cannot open " + file_.string() + " for reading; check that it exists and is readable");
}

bool CsvRecordReader::read_line(std::string& line) {
  if (!std::getline(in_, line)) return false;
  ++lines_read_;
  if (lines_read_ == 1 && line.starts_with(utf8_byte_order_mark)) line.erase(0, utf8_byte_order_mark.size());
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

void CsvRecordReader::fail(std::size_t line, const std::string& message) const {
  throw StageError(parameter_key_, file_.string() + ":" + std::to_string(line) + ": " + message);
}

std::optional<CsvRecord> CsvRecordReader::next() {
  std::string line;
  do {
    if (!read_line(line)) return std::nullopt;
  } while (line.empty());

  CsvRecord record;
  record.line = lines_read_;
  std::string field;
  bool in_quotes = false;
  bool field_was_quoted = false;
  bool after_closing_quote = false;

  while (true) {
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (in_quotes) {
        if (c != '"') {
          field += c;
        } else if (i + 1 < line.size() && line[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
          after_closing_quote = true;
        }
      } else if (c == ',') {
        record.fields.push_back(std::move(field));
        field.clear();
        field_was_quoted = after_closing_quote = false;
      } else if (after_closing_quote) {
        fail(lines_read_,
             "unexpected character '" + std::string(1, c) + "' after the closing quote of field " +
                 std::to_string(record.fields.size() + 1) +
                 "; a quoted field must end at a comma or the line end (write \"\" for a quote inside it)");
      } else if (c == '"' && field.empty() && !field_was_quoted) {
        in_quotes = field_was_quoted = true;
      } else {
        field += c; // a quote inside an unquoted field is kept literally, as most writers intend
      }
    }
    if (!in_quotes) break;
    // A line break inside quotes belongs to the field.
    field += '\n';
    if (!read_line(line))
      fail(record.line, "quoted field " + std::to_string(record.fields.size() + 1) +
                            " is never closed; add the missing '\"'");
  }
  record.fields.push_back(std::move(field));
  return record;
}

} // namespace radpipe::readers
