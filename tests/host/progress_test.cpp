#include "io/progress.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <string>

namespace {

// Sets the log level for one test and puts the previous one back.
class ScopedLogLevel {
 public:
  explicit ScopedLogLevel(spdlog::level::level_enum level) : saved_(spdlog::get_level()) {
    spdlog::set_level(level);
  }
  ~ScopedLogLevel() { spdlog::set_level(saved_); }
  ScopedLogLevel(const ScopedLogLevel&) = delete;
  ScopedLogLevel& operator=(const ScopedLogLevel&) = delete;

 private:
  spdlog::level::level_enum saved_;
};

std::string stderr_of_a_finished_run(spdlog::level::level_enum level) {
  const ScopedLogLevel scoped(level);
  testing::internal::CaptureStderr();
  {
    radpipe::host::Progress progress("predict", 4);
    progress.advance(4);
    progress.finish("3 skipped");
  }
  return testing::internal::GetCapturedStderr();
}

} // namespace

TEST(Progress, DrawsItsLastLineAtTheInfoLevel) {
  const std::string drawn = stderr_of_a_finished_run(spdlog::level::info);
  EXPECT_NE(drawn.find("predict: 4/4 img (100%)"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("3 skipped"), std::string::npos) << drawn;
}

// -q sets the level to warn: "only warnings and errors on stderr", so no progress either.
TEST(Progress, QuietRunsDrawNothing) {
  EXPECT_EQ(stderr_of_a_finished_run(spdlog::level::warn), "");
}
