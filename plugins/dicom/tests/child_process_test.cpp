#include "child_process.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <system_error>

namespace radpipe::dicom {
namespace {

using namespace std::chrono_literals;

TEST(ChildProcess, CollectsOutputErrorsAndExitCode) {
  const auto run = run_process("/bin/sh", {"-c", "printf 'pixels'; echo 'a warning' >&2; exit 3"}, 10s);
  EXPECT_FALSE(run.succeeded());
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(run.signal, 0);
  EXPECT_EQ(run.out, "pixels");
  EXPECT_EQ(run.err_tail, "a warning\n");
  EXPECT_EQ(describe_ending(run, 10s), "exited with code 3");
}

TEST(ChildProcess, OutputLargerThanAPipeBufferArrivesWhole) {
  // 1 MiB: more than the 64 KiB a pipe holds, so reading must interleave with the child's writing.
  const auto run = run_process("/bin/sh", {"-c", "head -c 1048576 /dev/zero"}, 10s);
  ASSERT_TRUE(run.succeeded()) << run.err_tail;
  EXPECT_EQ(run.out.size(), 1048576u);
}

TEST(ChildProcess, ACrashIsReportedWithItsSignal) {
  const auto run = run_process("/bin/sh", {"-c", "echo dying >&2; kill -SEGV $$"}, 10s);
  EXPECT_FALSE(run.succeeded());
  EXPECT_EQ(run.signal, SIGSEGV);
  EXPECT_EQ(run.err_tail, "dying\n");
  EXPECT_NE(describe_ending(run, 10s).find("killed by signal 11"), std::string::npos)
      << describe_ending(run, 10s);
}

TEST(ChildProcess, AHelperPastItsTimeLimitIsKilled) {
  const auto run = run_process("/bin/sleep", {"30"}, 200ms);
  EXPECT_TRUE(run.timed_out);
  EXPECT_FALSE(run.succeeded());
  EXPECT_EQ(run.signal, SIGKILL);
  EXPECT_EQ(describe_ending(run, 200ms), "ran past the time limit of 0.2 s and was killed");
}

TEST(ChildProcess, AMissingProgramCannotStart) {
  EXPECT_THROW(run_process("/nonexistent/radpipe-dicom-decoder", {}, 1s), std::system_error);
}

} // namespace
} // namespace radpipe::dicom
