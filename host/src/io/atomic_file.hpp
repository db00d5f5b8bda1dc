// The one way radpipe writes a result file: into a temporary file beside the target, flushed and
// renamed over it, so that a run that dies never leaves a half-written file behind.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

namespace radpipe::host {

// Calls `write` with a stream to a temporary file, then renames it to `target`. Throws
// std::runtime_error naming the file when anything fails; the temporary file is removed then.
void write_file_atomically(const std::filesystem::path& target, const std::function<void(std::ostream&)>& write);

// Quotes a CSV field when it needs it (RFC 4180).
std::string csv_field(const std::string& text);

} // namespace radpipe::host
