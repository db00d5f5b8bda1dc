#include "csv_records.hpp"

#include <gtest/gtest.h>

#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>

#include "test_support.hpp"

namespace radpipe::readers {
namespace {

using radpipe::testing::TempFolder;
using Fields = std::vector<std::string>;

std::vector<CsvRecord> read_all(const std::filesystem::path& file) {
  CsvRecordReader reader(file, "file");
  std::vector<CsvRecord> records;
  while (auto record = reader.next()) records.push_back(std::move(*record));
  return records;
}

TEST(CsvRecords, QuotedFieldsKeepCommasQuotesAndLineBreaks) {
  TempFolder scratch;
  const auto file = scratch.write("quotes.csv",
                                  "image,note\n"
                                  "\"a,b.png\",\"she said \"\"fracture\"\"\"\n"
                                  "\"two\nlines.png\",\n"
                                  "plain.png,\"\"\n");
  const auto records = read_all(file);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].fields, (Fields{"image", "note"}));
  EXPECT_EQ(records[1].fields, (Fields{"a,b.png", "she said \"fracture\""}));
  EXPECT_EQ(records[2].fields, (Fields{"two\nlines.png", ""}));
  EXPECT_EQ(records[3].fields, (Fields{"plain.png", ""}));
  // The record after a two-line record starts on line 5.
  EXPECT_EQ(records[1].line, 2u);
  EXPECT_EQ(records[2].line, 3u);
  EXPECT_EQ(records[3].line, 5u);
}

TEST(CsvRecords, CrlfBomAndBlankLinesAreHandled) {
  TempFolder scratch;
  const auto file =
      scratch.write("windows.csv", "\xEF\xBB\xBFimage,label\r\n\r\na.png,1\r\n\"b\r\nc.png\",0\r\n\r\n");
  const auto records = read_all(file);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].fields, (Fields{"image", "label"})); // no BOM glued to "image"
  EXPECT_EQ(records[1].fields, (Fields{"a.png", "1"}));     // no '\r' glued to "1"
  EXPECT_EQ(records[1].line, 3u);
  EXPECT_EQ(records[2].fields, (Fields{"b\nc.png", "0"}));
}

TEST(CsvRecords, LastLineWithoutNewlineAndTrailingEmptyField) {
  TempFolder scratch;
  const auto records = read_all(scratch.write("tail.csv", "a,b,\nx,,z"));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].fields, (Fields{"a", "b", ""}));
  EXPECT_EQ(records[1].fields, (Fields{"x", "", "z"}));
}

TEST(CsvRecords, StrayQuoteInsideUnquotedFieldIsKept) {
  TempFolder scratch;
  const auto records = read_all(scratch.write("stray.csv", "a\"b,c\n"));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].fields, (Fields{"a\"b", "c"}));
}

TEST(CsvRecords, UnclosedQuoteNamesTheLineWhereTheRecordStarts) {
  TempFolder scratch;
  const auto file = scratch.write("unclosed.csv", "image,label\n\"a.png,1\nb.png,0\n");
  CsvRecordReader reader(file, "file");
  ASSERT_TRUE(reader.next());
  try {
    reader.next();
    FAIL() << "an unclosed quote should be an error";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "file");
    EXPECT_NE(std::string(error.what()).find(file.string() + ":2:"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("never closed"), std::string::npos) << error.what();
  }
}

TEST(CsvRecords, TextAfterClosingQuoteIsAnError) {
  TempFolder scratch;
  const auto file = scratch.write("junk.csv", "image\n\"a.png\"x\n");
  CsvRecordReader reader(file, "file");
  ASSERT_TRUE(reader.next());
  try {
    reader.next();
    FAIL() << "text after a closing quote should be an error";
  } catch (const StageError& error) {
    EXPECT_NE(std::string(error.what()).find(":2: unexpected character 'x'"), std::string::npos)
        << error.what();
  }
}

TEST(CsvRecords, MissingFileIsAStageErrorOnTheKey) {
  TempFolder scratch;
  try {
    CsvRecordReader reader(scratch.path() / "absent.csv", "labels");
    FAIL() << "opening a missing file should fail";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "labels");
    EXPECT_NE(std::string(error.what()).find("absent.csv"), std::string::npos);
  }
}

} // namespace
} // namespace radpipe::readers
