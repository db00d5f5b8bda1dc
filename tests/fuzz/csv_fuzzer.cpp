// CSV datasets and their row filters, as the csv reader reads them: the first line of an input is
// a filter expression (empty: none), the rest a CSV file. The filter parser, the record reader and
// the whole reader stage must refuse what they cannot read with an exception naming the problem,
// never crash, hang or read out of bounds.
#include "csv_reader.hpp"
#include "csv_records.hpp"
#include "row_filter.hpp"

#include <radpipe/error.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

const std::filesystem::path& scratch_file() {
  static const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("radpipe-fuzz-csv-" + std::to_string(::getpid()) + ".csv");
  return file;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace radpipe;
  using namespace radpipe::readers;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto end_of_filter = input.find('\n');
  const std::string filter = input.substr(0, end_of_filter);
  const std::string csv = end_of_filter == std::string::npos ? std::string() : input.substr(end_of_filter + 1);

  try {
    const RowFilter parsed(filter);
    (void)parsed.matches([&](std::size_t field) { return std::string_view(parsed.fields()[field]); });
  } catch (const FilterSyntaxError&) {
  }

  {
    std::ofstream out(scratch_file(), std::ios::binary | std::ios::trunc);
    out << csv;
  }
  try {
    CsvRecordReader records(scratch_file(), "file");
    while (records.next()) {
    }
  } catch (const StageError&) {
  }
  try {
    std::map<std::string, ParamValue> values{{"file", scratch_file().string()}, {"body_part_column", std::string("part")},
                                             {"patient_column", std::string("patient")}, {"study_column", std::string("study")}};
    if (!filter.empty()) values.emplace("filter", filter);
    CsvReader reader(resolve_params(CsvReader::schema(), values), StageContext{});
    while (reader.next()) {
    }
  } catch (const StageError&) {
  } catch (const SampleError&) {
  }
  return 0;
}
