// The rows of a CSV file that radpipe wrote (predictions.csv, studies.csv, a listing), as maps from
// the header's column names to the cells, for tests that check what the binary wrote. Quoted cells
// ("a,b", with "" for a quote) are read as the writers quote them. Header-only: the tests that
// need it include it, and the test support library stays as it is.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace radpipe::testing {

/// The cells of one CSV line; an empty last cell counts ("a," has two).
inline std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      cells.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      cells.emplace_back();
    } else if (c != '\r') {
      cells.back() += c;
    }
  }
  return cells;
}

/// Every row after the header, by column name; an empty vector for a missing file.
inline std::vector<std::map<std::string, std::string>> read_csv_rows(const std::filesystem::path& file) {
  std::ifstream stream(file);
  std::string line;
  std::vector<std::map<std::string, std::string>> rows;
  if (!std::getline(stream, line)) return rows;
  const auto header = split_csv_line(line);
  while (std::getline(stream, line)) {
    const auto cells = split_csv_line(line);
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

} // namespace radpipe::testing
