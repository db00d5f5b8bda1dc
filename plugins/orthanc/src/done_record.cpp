#include "done_record.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace radpipe::orthanc {
namespace {

std::runtime_error failure(const std::filesystem::path& file, const std::string& what) {
  return std::runtime_error("cannot " + what + " the record " + file.string() + ": " + std::strerror(errno));
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

} // namespace

DoneRecord DoneRecord::parse(const std::string& content, const std::filesystem::path& file) {
  DoneRecord record;
  std::size_t start = 0;
  std::size_t line_number = 0;
  std::size_t valid = 0;
  while (true) {
    const std::size_t end = content.find('\n', start);
    if (end == std::string::npos) break; // a partial last line: a kill mid-append
    ++line_number;
    const std::string line = content.substr(start, end - start);
    start = end + 1;
    if (line.empty()) {
      valid = start;
      continue;
    }
    try {
      const auto entry = nlohmann::json::parse(line);
      record.studies_.insert(entry.at("study").get<std::string>());
      record.checkpoints_.insert(entry.at("checkpoint").get<std::string>());
    } catch (const nlohmann::json::exception& error) {
      throw std::runtime_error(file.string() + ":" + std::to_string(line_number) + ": not a record entry (" +
                               error.what() + ")");
    }
    valid = start;
  }
  record.valid_bytes_ = valid;
  return record;
}

DoneRecord DoneRecord::read(const std::filesystem::path& file) {
  std::error_code error;
  if (!std::filesystem::exists(file, error)) return DoneRecord{};
  std::ifstream in(file, std::ios::binary);
  if (!in) throw failure(file, "read");
  std::stringstream content;
  content << in.rdbuf();
  return parse(content.str(), file);
}

DoneRecordWriter::DoneRecordWriter(std::filesystem::path file) : file_(std::move(file)) {
  if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path());
  fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) throw failure(file_, "open");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    errno = error;
    if (error == EWOULDBLOCK)
      throw std::runtime_error(
          "the record " + file_.string() +
          " is in use by another radpipe run; wait for it to end (two runs would send the same "
          "studies)");
    throw failure(file_, "lock");
  }
  // Read under the lock: nobody appends meanwhile.
  record_ = DoneRecord::read(file_);
}

DoneRecordWriter::~DoneRecordWriter() {
  ::close(fd_);
} // closing drops the lock

void DoneRecordWriter::add(const DoneStudy& study) {
  // A partial line left by a kill is cut off first, so that the new line starts a line.
  if (::ftruncate(fd_, static_cast<off_t>(record_.valid_bytes_)) != 0) throw failure(file_, "trim");
  const std::string line = nlohmann::json{{"study", study.study_uid}, {"checkpoint", study.checkpoint_sha256},
                                          {"server", study.server},   {"report", study.report_uid},
                                          {"objects", study.objects}, {"time", utc_now()}}
                               .dump() +
                           "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t count = ::pwrite(fd_, line.data() + done, line.size() - done,
                                   static_cast<off_t>(record_.valid_bytes_ + done));
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) throw failure(file_, "append to");
    done += static_cast<std::size_t>(count);
  }
  if (::fdatasync(fd_) != 0) throw failure(file_, "sync");
  record_.valid_bytes_ += line.size();
  record_.studies_.insert(study.study_uid);
  record_.checkpoints_.insert(study.checkpoint_sha256);
}

} // namespace radpipe::orthanc
