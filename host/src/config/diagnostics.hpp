// Problems found in a user's file, each with the place it happened, printed as
// `FILE:LINE:COL: error: MESSAGE` so that editors and terminals can jump to it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace radpipe::host {

struct SourceLocation {
  std::string file;
  int line = 0;   // 1-based; 0 when unknown
  int column = 0; // 1-based; 0 when unknown
};

struct Diagnostic {
  SourceLocation where;
  std::string message;
};

std::string format(const Diagnostic& diagnostic);
// `FILE:LINE:COL`, leaving out what is unknown (0).
std::string format_location(const SourceLocation& where);

// The candidate closest to `word` by edit distance, or empty when none is close enough to be
// a plausible typo.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

} // namespace radpipe::host
