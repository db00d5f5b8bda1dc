#include "done_record.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <radpipe/testing.hpp>

namespace radpipe::orthanc {
namespace {

DoneStudy study(const std::string& uid) {
  return DoneStudy{uid, "sha-a", "http://127.0.0.1:1", uid + ".9", 3};
}

TEST(DoneRecordTest, WhatIsAddedIsDoneForEveryLaterRun) {
  radpipe::testing::TempFolder folder;
  const auto file = folder.path() / "state/done.jsonl";
  EXPECT_EQ(DoneRecord::read(file).size(), 0u) << "no record yet: nothing done";
  {
    DoneRecordWriter writer(file);
    writer.add(study("1.2.1"));
    writer.add(study("1.2.2"));
    EXPECT_TRUE(writer.record().contains("1.2.2"));
  }
  const DoneRecord record = DoneRecord::read(file);
  EXPECT_EQ(record.size(), 2u);
  EXPECT_TRUE(record.contains("1.2.1"));
  EXPECT_FALSE(record.contains("1.2.3"));
  EXPECT_EQ(record.checkpoints(), std::set<std::string>{"sha-a"});
}

TEST(DoneRecordTest, APartialLastLineFromAKillIsIgnoredAndCutBeforeTheNextLine) {
  radpipe::testing::TempFolder folder;
  const auto file = folder.path() / "done.jsonl";
  {
    DoneRecordWriter writer(file);
    writer.add(study("1.2.1"));
  }
  std::ofstream(file, std::ios::app) << "{\"study\":\"1.2.2\",\"chec";
  EXPECT_EQ(DoneRecord::read(file).size(), 1u);
  {
    DoneRecordWriter writer(file);
    writer.add(study("1.2.3"));
  }
  const std::string content = radpipe::testing::read_text(file);
  EXPECT_EQ(content.find("chec\n"), std::string::npos) << content;
  EXPECT_EQ(std::count(content.begin(), content.end(), '\n'), 2) << content;
  const DoneRecord record = DoneRecord::read(file);
  EXPECT_TRUE(record.contains("1.2.1"));
  EXPECT_FALSE(record.contains("1.2.2"));
  EXPECT_TRUE(record.contains("1.2.3"));
}

TEST(DoneRecordTest, OneRunAtATimeWritesARecord) {
  radpipe::testing::TempFolder folder;
  const auto file = folder.path() / "done.jsonl";
  DoneRecordWriter first(file);
  try {
    DoneRecordWriter second(file);
    FAIL() << "a second writer must be refused while the first holds the record";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("in use by another radpipe run"), std::string::npos)
        << error.what();
  }
}

TEST(DoneRecordTest, AGarbledCompleteLineIsAnErrorThatNamesIt) {
  radpipe::testing::TempFolder folder;
  const auto file = folder.write("done.jsonl", "{\"study\":\"1\",\"checkpoint\":\"a\"}\nnot json\n");
  try {
    DoneRecord::read(file);
    FAIL() << "a garbled line must not be skipped silently";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("done.jsonl:2"), std::string::npos) << error.what();
  }
}

} // namespace
} // namespace radpipe::orthanc
