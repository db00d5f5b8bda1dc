// Progress of long work on stderr: a redrawn line on a terminal, plain periodic lines otherwise
// (so that logs of batch runs stay readable).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace radpipe::host {

class Progress {
public:
  Progress(std::string label, std::optional<std::uint64_t> total, std::string unit = "img");
  ~Progress();

  void advance(std::uint64_t count, const std::string& detail = {});
  void finish(const std::string& detail = {});
  double rate() const; // units per second so far

private:
  void draw(bool final_line, const std::string& detail);

  std::string label_;
  std::optional<std::uint64_t> total_;
  std::string unit_;
  std::uint64_t done_ = 0;
  bool terminal_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

} // namespace radpipe::host
