// `radpipe plugins --verify LIST`: compares the SHA-256 of every plugin file on the search path
// with a list the site keeps, in the format `sha256sum` writes. Nothing is loaded: verifying a
// plugin runs none of its code.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace radpipe::host {

struct ChecksumEntry {
  std::string sha256; // 64 lower-case hex digits
  std::filesystem::path path;
  std::size_t line = 0; // in the list file, for messages
};

// Reads `SHA256  PATH` lines (`sha256sum` output; `SHA256 *PATH` too). Blank lines and lines
// starting with `#` are ignored. Throws std::runtime_error as `LIST:LINE: problem`.
std::vector<ChecksumEntry> read_checksum_list(const std::filesystem::path& list);

enum class VerifyStatus { Verified, Mismatch, Unlisted, Unreadable };

struct VerifyResult {
  std::filesystem::path file;
  VerifyStatus status = VerifyStatus::Unlisted;
  std::string actual;                    // the file's SHA-256 (empty when unreadable)
  const ChecksumEntry* listed = nullptr; // the entry its path matched, when any
  std::string problem;                   // why it could not be read
};

// A list entry names a file by absolute path (compared after resolving links), or by a relative
// path that the file's path ends with (`libacme.so`, `plugins/libacme.so`). A file matched by no
// entry is unlisted, even when its checksum appears under another name.
std::vector<VerifyResult> verify_plugin_files(const std::vector<std::filesystem::path>& files,
                                              const std::vector<ChecksumEntry>& list);

} // namespace radpipe::host
