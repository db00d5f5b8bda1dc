#include "io/progress.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <unistd.h>

namespace radpipe::host {
using Clock = std::chrono::steady_clock;

Progress::Progress(std::string label, std::optional<std::uint64_t> total, std::string unit)
    : label_(std::move(label)), total_(total), unit_(std::move(unit)), terminal_(::isatty(STDERR_FILENO) != 0),
      start_(Clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_ && terminal_ && done_ > 0) std::fputc('\n', stderr);
}

double Progress::rate() const {
  const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  return seconds > 0 ? static_cast<double>(done_) / seconds : 0.0;
}

void Progress::advance(std::uint64_t count, const std::string& detail) {
  done_ += count;
  const auto now = Clock::now();
  const auto interval = terminal_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000);
  if (now - last_draw_ >= interval) {
    last_draw_ = now;
    draw(false, detail);
  }
}

void Progress::finish(const std::string& detail) {
  if (finished_) return;
  finished_ = true;
  draw(true, detail);
}

namespace {
// 42 s, 12m05s, 3h07m: readable for runs of seconds and of nights alike.
std::string duration_text(double seconds) {
  const auto whole = static_cast<long long>(seconds + 0.5);
  if (whole < 60) return fmt::format("{} s", whole);
  if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  return fmt::format("{}h{:02}m", whole / 3600, (whole % 3600) / 60);
}
} // namespace

void Progress::draw(bool final_line, const std::string& detail) {
  const double per_second = rate();
  std::string line = fmt::format("{}: {}", label_, done_);
  if (total_ && *total_ > 0) {
    line += fmt::format("/{} {} ({:.0f}%)", *total_, unit_, 100.0 * static_cast<double>(done_) / static_cast<double>(*total_));
    if (!final_line && per_second > 0 && done_ < *total_)
      line += ", ETA " + duration_text(static_cast<double>(*total_ - done_) / per_second);
  } else {
    line += " " + unit_;
  }
  line += fmt::format(", {:.1f} {}/s", per_second, unit_);
  if (!detail.empty()) line += ", " + detail;
  if (terminal_) std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  else std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

} // namespace radpipe::host
