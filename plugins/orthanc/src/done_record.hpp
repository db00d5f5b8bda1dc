// The record of studies whose results a PACS holds: one JSON line per study, appended and synced
// to disk right after the PACS accepted the study's objects. A nightly run skips the studies it
// lists, so that it resumes where the last one stopped and never sends a study's results twice.
// A kill mid-line leaves a partial last line, which is ignored and cut off before the next one.
#pragma once

#include <cstddef>
#include <filesystem>
#include <set>
#include <string>

namespace radpipe::orthanc {

struct DoneStudy {
  std::string study_uid;
  std::string checkpoint_sha256;
  std::string server;      // the base URL the results went to
  std::string report_uid;  // the SR's SOP Instance UID, empty without a report
  std::size_t objects = 0; // objects stored
};

class DoneRecord {
 public:
  // Reads `file` if it exists. Throws std::runtime_error when it exists but cannot be read or a
  // complete line is not a record entry.
  static DoneRecord read(const std::filesystem::path& file);

  bool contains(const std::string& study_uid) const { return studies_.count(study_uid) != 0; }
  std::size_t size() const { return studies_.size(); }
  // The checkpoints whose results the record lists: one, for a record used as meant (one per model).
  const std::set<std::string>& checkpoints() const { return checkpoints_; }

 private:
  friend class DoneRecordWriter;
  static DoneRecord parse(const std::string& content, const std::filesystem::path& file);
  std::set<std::string> studies_;
  std::set<std::string> checkpoints_;
  std::size_t valid_bytes_ = 0; // up to the end of the last complete line
};

// Appends to a record, holding an exclusive lock on it for as long as it lives, so that two runs
// never write the same record.
class DoneRecordWriter {
 public:
  // Throws std::runtime_error when the record cannot be opened, or another process holds it.
  explicit DoneRecordWriter(std::filesystem::path file);
  ~DoneRecordWriter();
  DoneRecordWriter(const DoneRecordWriter&) = delete;
  DoneRecordWriter& operator=(const DoneRecordWriter&) = delete;

  const DoneRecord& record() const { return record_; }
  const std::filesystem::path& file() const { return file_; }
  // Appends the study's line and syncs it to disk before it returns.
  void add(const DoneStudy& study);

 private:
  std::filesystem::path file_;
  int fd_ = -1;
  DoneRecord record_;
};

} // namespace radpipe::orthanc
