// The one way radpipe writes a result file: into a temporary file beside the target, synced to
// disk and renamed over it, so that a run that dies never leaves a half-written file behind. The
// other durable file operations of the commit paths (checkpoints, a run's output set) live here
// too, so that each one is counted for the kill test below.
//
// Test hook (test-only, for the tests that prove that a kill at any point loses nothing): when the
// environment variable RADPIPE_TEST_KILL_AT_FILE_OP is a number N > 0, the process kills itself
// with SIGKILL just before its N-th counted file operation. Nothing but this file reads it.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace radpipe::host {

// Calls `write` with a stream to a temporary file, syncs it to disk and renames it to `target`
// (two counted operations: the write, the rename). Throws std::runtime_error naming the file and
// the system's reason ("No space left on device", "File too large") when anything fails; the
// temporary file is removed then.
void write_file_atomically(const std::filesystem::path& target, const std::function<void(std::ostream&)>& write);
void write_bytes_atomically(const std::filesystem::path& target, std::string_view bytes);

// Several files committed as one set: every file is written to its temporary first (a full disk
// then leaves the previous set untouched), then the last file, the set's record (run.json), is
// removed, the others renamed into place, and the record renamed last. A kill between the renames
// leaves no record beside the new files, never an old record that vouches for them.
struct PendingFile {
  std::filesystem::path target;
  std::function<void(std::ostream&)> write;
};
void write_file_set_atomically(const std::vector<PendingFile>& files);

// Renames and syncs the folder that holds `to`, so that the rename survives a power cut.
void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to);
// Syncs every file directly in `folder`, and the folder itself, to disk (files that other code,
// a plugin, wrote there).
void sync_folder_contents(const std::filesystem::path& folder);
// Creates `folder` (and its parents) when missing.
void create_folder(const std::filesystem::path& folder);
// Removes `path` and everything under it; nothing happens (but the operation still counts) when
// it does not exist.
void remove_all_durably(const std::filesystem::path& path);

// Makes `to` a hard link to `from` (no copy), or a synced copy where the file system has no hard
// links; `to` must not exist.
void link_or_copy_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// Counts an operation done by other code (a plugin writing a weights file) and honours the kill
// hook before it.
void count_file_operation(std::string_view what, const std::filesystem::path& path);

// An output path from the command line that cannot be used; radpipe exits with 2 (bad command line).
class OutputPathError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Checks, before any work, that `folder` is (or can be made) a folder radpipe can write into:
// not an existing file, not read-only. Creates it, and removes the temporaries that killed radpipe
// processes left in it (NAME.tmp.PID and the like, the process no longer running). Throws
// OutputPathError naming `option` (e.g. "--out") and the reason.
void prepare_output_folder(const std::filesystem::path& folder, std::string_view option);
// The same for one output file: its folder can be written into, and the file is not a folder.
void prepare_output_file(const std::filesystem::path& file, std::string_view option);

// Quotes a CSV field when it needs it (RFC 4180).
std::string csv_field(const std::string& text);

} // namespace radpipe::host
