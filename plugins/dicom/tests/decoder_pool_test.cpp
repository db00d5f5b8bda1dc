// The decoder pool with real helper processes: the real radpipe-dicom-decoder, and the same
// helper made to abort, crash, exit, hang or garble on chosen files (misbehaving_decoder.cpp).
// Each failure costs one file; the pool replaces the helper and decodes the next files.
#include "decoder_pool.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <iterator>
#include <opencv2/core.hpp>
#include <radpipe/testing.hpp>
#include <sstream>

#include "dicom_decode.hpp"
#include "dicom_files.hpp"

namespace radpipe::dicom {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using radpipe::testing::TempFolder;
using testing::DicomSpec;

DecoderPoolOptions pool_of(const fs::path& program, std::size_t size,
                           std::chrono::milliseconds time_limit = std::chrono::milliseconds(60000)) {
  DecoderPoolOptions options;
  options.program = program;
  options.size = size;
  options.time_limit = time_limit;
  return options;
}

class Pool : public ::testing::Test {
 protected:
  // A 4x3 16-bit file whose values start at `first`, so that files tell apart by their pixels.
  fs::path write(const std::string& name, std::int64_t first = 0) {
    DicomSpec spec;
    spec.rows = 3;
    spec.columns = 4;
    spec.values = testing::ramp(3, 4, 100);
    for (auto& value : spec.values) value += first;
    const fs::path file = scratch_.path() / name;
    testing::write_dicom(file, spec);
    return file;
  }
  // What decoding in this process gives: the pool must hand over exactly that.
  static cv::Mat in_process(const fs::path& file) {
    DicomDecoder decoder;
    return decoder.decode(file.string(), 1, DecodeOptions{}).image;
  }
  static void expect_same(const cv::Mat& got, const cv::Mat& expected) {
    ASSERT_EQ(got.size(), expected.size());
    ASSERT_EQ(got.type(), expected.type());
    EXPECT_EQ(cv::norm(got, expected, cv::NORM_INF), 0.0);
  }
  // The failure decoding `file` gives; fails the test when it decodes.
  static std::string failure_of(DecoderPool& pool, const fs::path& file) {
    try {
      pool.decode(file.string(), 1, DecodeOptions{});
    } catch (const DecoderFailure& failure) {
      return failure.what();
    }
    ADD_FAILURE() << file << " decoded";
    return {};
  }
  TempFolder scratch_;
};

TEST_F(Pool, OneHelperDecodesManyFilesAndTheirTags) {
  DecoderPool pool(pool_of(RADPIPE_DICOM_DECODER, 1));
  for (int i = 0; i < 5; ++i) {
    const fs::path file = write("file" + std::to_string(i) + ".dcm", i * 7);
    const DecodedDicom decoded = pool.decode(file.string(), 1, DecodeOptions{});
    expect_same(decoded.image, in_process(file));
    EXPECT_EQ(decoded.header.patient_id, "P1");
    EXPECT_EQ(decoded.header.tags.at("stored_min"), std::to_string(i * 7));
  }
  EXPECT_EQ(pool.helpers_started(), 1u) << "one long-lived helper decodes every file";
  EXPECT_EQ(pool.count_frames(write("frames.dcm").string()), 1);
}

TEST_F(Pool, AHelperThatCrashesIsReplacedAndTheNextFilesDecode) {
  DecoderPool pool(pool_of(RADPIPE_MISBEHAVING_DECODER, 1));
  const fs::path good = write("good.dcm", 5);
  expect_same(pool.decode(good.string(), 1, DecodeOptions{}).image, in_process(good));

  const std::string aborted = failure_of(pool, write("abort.dcm"));
  EXPECT_NE(aborted.find("the decoder was killed by signal 6 (Aborted)"), std::string::npos) << aborted;
  EXPECT_NE(aborted.find("(it said: gdcmJPEG2000Codec.cxx:123: Assertion `len > 0' failed.)"),
            std::string::npos)
      << aborted;
  EXPECT_NE(aborted.find("the file is probably malformed"), std::string::npos) << aborted;
  expect_same(pool.decode(good.string(), 1, DecodeOptions{}).image, in_process(good));
  EXPECT_EQ(pool.helpers_started(), 2u);

#if defined(__SANITIZE_ADDRESS__)
  // ASan's SEGV handler turns the crash into an exit with its report (scripts/sanitize.sh).
  const std::string crashed = failure_of(pool, write("segfault.dcm"));
  EXPECT_NE(crashed.find("the decoder exited with code"), std::string::npos) << crashed;
#else
  EXPECT_NE(failure_of(pool, write("segfault.dcm")).find("killed by signal 11"), std::string::npos);
#endif
  EXPECT_NE(failure_of(pool, write("exit.dcm")).find("the decoder exited with code 3"), std::string::npos);
  const std::string garbled = failure_of(pool, write("garble.dcm"));
  EXPECT_NE(garbled.find("the decoder's answer lacks a field"), std::string::npos) << garbled;
  expect_same(pool.decode(good.string(), 1, DecodeOptions{}).image, in_process(good));
  EXPECT_EQ(pool.helpers_started(), 5u) << "each failed helper replaced once, by the next request";

  // A file the decoder refuses is an answer, not a failure of the helper: it stays.
  const fs::path text = scratch_.write("notes.dcm", "not DICOM at all");
  EXPECT_NE(failure_of(pool, text).find("not a DICOM file"), std::string::npos);
  expect_same(pool.decode(good.string(), 1, DecodeOptions{}).image, in_process(good));
  EXPECT_EQ(pool.helpers_started(), 5u);
}

TEST_F(Pool, AHelperPastTheTimeLimitIsKilledAndReplaced) {
  DecoderPool pool(pool_of(RADPIPE_MISBEHAVING_DECODER, 1, 1s));
  const std::string hung = failure_of(pool, write("hang.dcm"));
  EXPECT_NE(hung.find("the decoder ran past the time limit of 1 s and was killed"), std::string::npos)
      << hung;
  const fs::path good = write("good.dcm");
  expect_same(pool.decode(good.string(), 1, DecodeOptions{}).image, in_process(good));
  EXPECT_EQ(pool.helpers_started(), 2u);
}

TEST_F(Pool, ConcurrentCallsShareTheHelpersAndEachGetsItsOwnPixels) {
  // Eight threads, two helpers, good files between aborting ones: every good file decodes to
  // its own pixels, every aborting one fails, and nothing waits forever.
  std::vector<fs::path> good;
  std::vector<cv::Mat> expected;
  for (int i = 0; i < 4; ++i) {
    good.push_back(write("good" + std::to_string(i) + ".dcm", i * 1000));
    expected.push_back(in_process(good.back()));
  }
  const fs::path aborting = write("abort.dcm");
  DecoderPool pool(pool_of(RADPIPE_MISBEHAVING_DECODER, 2));
  std::vector<std::future<int>> threads;
  for (int thread = 0; thread < 8; ++thread)
    threads.push_back(std::async(std::launch::async, [&, thread] {
      int failures = 0;
      for (int round = 0; round < 6; ++round) {
        const std::size_t which = static_cast<std::size_t>(thread + round) % 4;
        if ((thread + round) % 5 == 0) {
          failures += failure_of(pool, aborting).find("signal 6") != std::string::npos;
          continue;
        }
        const cv::Mat image = pool.decode(good[which].string(), 1, DecodeOptions{}).image;
        if (cv::norm(image, expected[which], cv::NORM_INF) != 0.0) ADD_FAILURE() << "pixels of another file";
      }
      return failures;
    }));
  int failures = 0;
  for (auto& thread : threads) failures += thread.get();
  int expected_failures = 0;
  for (int thread = 0; thread < 8; ++thread)
    for (int round = 0; round < 6; ++round) expected_failures += (thread + round) % 5 == 0;
  EXPECT_EQ(failures, expected_failures);
  // Two at first, and one replacement per abort at most.
  EXPECT_LE(pool.helpers_started(), 2u + static_cast<std::size_t>(expected_failures));
}

TEST_F(Pool, HelpersEndAfterTheirRequestLimit) {
  DecoderPoolOptions options = pool_of(RADPIPE_DICOM_DECODER, 1);
  options.requests_per_helper = 2;
  DecoderPool pool(options);
  const fs::path file = write("file.dcm");
  for (int i = 0; i < 5; ++i) pool.decode(file.string(), 1, DecodeOptions{});
  EXPECT_EQ(pool.helpers_started(), 3u);
}

// The minor page faults so far of this process's children named radpipe-dicom-decoder (the
// kernel shortens comm to 15 characters), summed; each child's from /proc/PID/stat.
std::uint64_t decoder_children_minor_faults() {
  std::uint64_t faults = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto open = text.find('('), close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    if (text.substr(open + 1, close - open - 1) != "radpipe-dicom-d") continue;
    // After "(comm) ": state ppid pgrp session tty_nr tpgid flags minflt
    std::istringstream fields(text.substr(close + 2));
    std::string state;
    long parent = 0, skipped = 0;
    std::uint64_t minor = 0;
    fields >> state >> parent >> skipped >> skipped >> skipped >> skipped >> skipped >> minor;
    if (parent == ::getpid()) faults += minor;
  }
  return faults;
}

// A helper decodes file after file through buffers of tens of MB (the file, GDCM's pixels, the
// unpacked values, the mapped image). Once it has decoded one radiograph, the next ones of the
// same size reuse that memory: with glibc's defaults each buffer was mapped and zeroed afresh,
// about 15,000 page faults and 300 ms per 2000x2500 12-bit file.
TEST_F(Pool, AHelperReusesItsMemoryFromOneRadiographToTheNext) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "AddressSanitizer's allocator, in the helper too, keeps its own memory and ignores mallopt";
#endif
  DicomSpec spec;
  spec.rows = 2500;
  spec.columns = 2000;
  spec.bits_stored = 12;
  spec.values = testing::ramp(spec.rows, spec.columns, 1);
  for (auto& value : spec.values) value %= 4096;
  const fs::path file = scratch_.path() / "radiograph.dcm";
  testing::write_dicom(file, spec);

  DecoderPool pool(pool_of(RADPIPE_DICOM_DECODER, 1));
  pool.decode(file.string(), 1, DecodeOptions{}); // the first file sizes the buffers
  const std::uint64_t before = decoder_children_minor_faults();
  ASSERT_GT(before, 0u) << "no radpipe-dicom-decoder child found in /proc";
  constexpr int files = 8;
  for (int i = 0; i < files; ++i) EXPECT_EQ(pool.decode(file.string(), 1, DecodeOptions{}).image.rows, 2500);
  const std::uint64_t per_file = (decoder_children_minor_faults() - before) / files;
  // Measured: none for most files, 2,047 once in a while as the heap settles. Without the reuse
  // (MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 in the environment) every file
  // faults at least its own 10 MB image in again: 2,442 pages.
  EXPECT_LT(per_file, 1000u) << "page faults per file in the helper";
}

TEST_F(Pool, AProgramThatIsNoDecoderIsRefusedByItsGreeting) {
  // cat echoes the request back instead of greeting.
  DecoderPool pool(pool_of("/bin/cat", 1));
  const std::string message = failure_of(pool, write("file.dcm"));
  EXPECT_NE(message.find("is not the radpipe-dicom-decoder of this radpipe"), std::string::npos) << message;
}

TEST_F(Pool, AMissingProgramCannotStart) {
  DecoderPool pool(pool_of("/nonexistent/radpipe-dicom-decoder", 1));
  const std::string message = failure_of(pool, write("file.dcm"));
  EXPECT_NE(message.find("the decoder could not be started"), std::string::npos) << message;
}

TEST_F(Pool, BytesInMemoryDecodeAndGarbageFailsContained) {
  // The entry point for fuzz targets: any bytes, a DecoderFailure at worst.
  DecoderPool pool(pool_of(RADPIPE_DICOM_DECODER, 1));
  const fs::path file = write("file.dcm", 3);
  std::ifstream in(file, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  expect_same(pool.decode_bytes(bytes, DecodeOptions{}).image, in_process(file));
  for (const std::string& garbage :
       {std::string(), std::string(128, '\0') + "DICM" + std::string(300, '\xff'),
        bytes.substr(0, bytes.size() / 2)}) {
    try {
      pool.decode_bytes(garbage, DecodeOptions{});
      ADD_FAILURE() << "garbage of " << garbage.size() << " bytes decoded";
    } catch (const DecoderFailure& failure) {
      EXPECT_FALSE(std::string(failure.what()).empty());
    }
  }
  EXPECT_EQ(pool.helpers_started(), 1u);
}

} // namespace
} // namespace radpipe::dicom
