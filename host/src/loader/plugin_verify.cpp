#include "loader/plugin_verify.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <stdexcept>

#include "loader/sha256.hpp"

namespace radpipe::host {
namespace fs = std::filesystem;

namespace {

bool is_hex_digest(const std::string& text) {
  return text.size() == 64 &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

// Whether `file`'s path ends with the components of the relative `listed` path.
bool ends_with(const fs::path& file, const fs::path& listed) {
  std::vector<fs::path> file_parts(file.begin(), file.end()), listed_parts(listed.begin(), listed.end());
  if (listed_parts.empty() || listed_parts.size() > file_parts.size()) return false;
  return std::equal(listed_parts.rbegin(), listed_parts.rend(), file_parts.rbegin());
}

bool names(const ChecksumEntry& entry, const fs::path& file) {
  std::error_code error;
  if (entry.path.is_absolute())
    return entry.path.lexically_normal() == fs::absolute(file, error).lexically_normal() ||
           fs::weakly_canonical(entry.path, error) == fs::weakly_canonical(file, error);
  const fs::path listed = entry.path.lexically_normal();
  return ends_with(fs::absolute(file, error).lexically_normal(), listed) ||
         ends_with(fs::weakly_canonical(file, error), listed);
}

} // namespace

std::vector<ChecksumEntry> read_checksum_list(const fs::path& list) {
  std::ifstream stream(list);
  if (!stream) throw std::runtime_error(list.string() + ": cannot read the checksum list");
  std::vector<ChecksumEntry> entries;
  std::string line;
  for (std::size_t number = 1; std::getline(stream, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    auto problem = [&](const std::string& what) {
      return std::runtime_error(list.string() + ":" + std::to_string(number) + ": " + what +
                                "; expected 'SHA256  FILE' as `sha256sum FILE...` writes it");
    };
    if (line.front() == '\\')
      throw problem("escaped file names (with a backslash or newline in them) are not supported");
    const std::string digest = line.substr(0, 64);
    if (!is_hex_digest(digest))
      throw problem("'" + line.substr(0, 64) + "' is not a SHA-256 in hex (64 digits)");
    if (line.size() < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*'))
      throw problem("no file name after the checksum");
    ChecksumEntry entry{digest, line.substr(66), number};
    std::transform(entry.sha256.begin(), entry.sha256.end(), entry.sha256.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::vector<VerifyResult> verify_plugin_files(const std::vector<fs::path>& files,
                                              const std::vector<ChecksumEntry>& list) {
  std::vector<VerifyResult> results;
  for (const auto& file : files) {
    VerifyResult result;
    result.file = file;
    try {
      result.actual = sha256_of_file(file);
    } catch (const std::exception& error) {
      result.status = VerifyStatus::Unreadable;
      result.problem = error.what();
      results.push_back(std::move(result));
      continue;
    }
    for (const auto& entry : list) {
      if (!names(entry, file)) continue;
      if (!result.listed || entry.sha256 == result.actual) result.listed = &entry;
      if (entry.sha256 == result.actual) break;
    }
    result.status = !result.listed                           ? VerifyStatus::Unlisted
                    : result.listed->sha256 == result.actual ? VerifyStatus::Verified
                                                             : VerifyStatus::Mismatch;
    results.push_back(std::move(result));
  }
  return results;
}

} // namespace radpipe::host
