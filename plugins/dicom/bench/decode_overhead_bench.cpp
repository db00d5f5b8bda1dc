// What decoding in helper processes costs: the same files decoded in this process, through the
// decoder pool (long-lived radpipe-dicom-decoder processes, pixels through shared memory), and
// with a fresh helper per file (the reader's former way), measured in the same run. Prints ms per
// file, wall and CPU, and the ratios to in-process decoding; then files/s of two threads through a
// pool of two against one thread in-process.
//   cmake -DRADPIPE_BUILD_BENCHMARKS=ON ... && cmake --build build --target bench_dicom_decode_overhead
//   build/tests/bench_dicom_decode_overhead [REPEATS]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/process_memory.hpp>
#include <radpipe/testing.hpp>
#include <thread>
#include <vector>

#include "decoder_pool.hpp"
#include "dicom_decode.hpp"
#include "dicom_files.hpp"

namespace {

namespace fs = std::filesystem;
using namespace radpipe;
using Clock = std::chrono::steady_clock;

struct Cost {
  double wall_ms = 0.0;
  double cpu_ms = 0.0; // this process and its ended children: a pool is ended before this is read
};

double cpu_ms_so_far() {
  rusage self{}, children{};
  ::getrusage(RUSAGE_SELF, &self);
  ::getrusage(RUSAGE_CHILDREN, &children);
  const auto ms = [](const timeval& time) { return time.tv_sec * 1e3 + time.tv_usec / 1e3; };
  return ms(self.ru_utime) + ms(self.ru_stime) + ms(children.ru_utime) + ms(children.ru_stime);
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

dicom::DecoderPoolOptions pool_options(std::size_t size, std::size_t requests_per_helper) {
  dicom::DecoderPoolOptions options;
  options.program = RADPIPE_DICOM_DECODER;
  options.size = size;
  options.requests_per_helper = requests_per_helper;
  return options;
}

// Wall time per file after one warm-up call (page cache, dynamic loader, a pool's first helper);
// CPU time over the same calls, helpers' included once the pool has ended and been reaped.
Cost in_process(const fs::path& file, int repeats) {
  dicom::DicomDecoder decoder;
  decoder.decode(file.string(), 1, dicom::DecodeOptions{});
  const double cpu = cpu_ms_so_far();
  const auto start = Clock::now();
  for (int i = 0; i < repeats; ++i) decoder.decode(file.string(), 1, dicom::DecodeOptions{});
  return {ms_since(start) / repeats, (cpu_ms_so_far() - cpu) / repeats};
}

Cost through_helpers(const fs::path& file, int repeats, std::size_t requests_per_helper) {
  double wall = 0.0;
  const double cpu = cpu_ms_so_far();
  {
    dicom::DecoderPool pool(pool_options(1, requests_per_helper));
    pool.decode(file.string(), 1, dicom::DecodeOptions{});
    const auto start = Clock::now();
    for (int i = 0; i < repeats; ++i) pool.decode(file.string(), 1, dicom::DecodeOptions{});
    wall = ms_since(start);
  }
  // The warm-up's decode is in the CPU figure too: repeats + 1 decodes, one helper start-up.
  return {wall / repeats, (cpu_ms_so_far() - cpu) / (repeats + 1)};
}

double files_per_second(int threads, int files_each, const std::function<void()>& decode_one) {
  const auto start = Clock::now();
  std::vector<std::jthread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < files_each; ++i) decode_one();
    });
  workers.clear();
  return threads * files_each / (ms_since(start) / 1000.0);
}

void compare(const std::string& label, const fs::path& file, int repeats) {
  const Cost local = in_process(file, repeats);
  const Cost pooled = through_helpers(file, repeats, 0);
  const Cost per_file = through_helpers(file, std::max(3, repeats / 3), 1);
  std::printf(
      "%-34s in-process %7.1f ms (cpu %7.1f) | pool %7.1f ms (cpu %7.1f) %5.2fx | process per file %7.1f ms "
      "(cpu %7.1f) %5.2fx\n",
      label.c_str(), local.wall_ms, local.cpu_ms, pooled.wall_ms, pooled.cpu_ms,
      pooled.wall_ms / local.wall_ms, per_file.wall_ms, per_file.cpu_ms, per_file.wall_ms / local.wall_ms);
  std::fflush(stdout);
}

// Two threads through a pool of two helpers, against one thread decoding in-process (GDCM's
// warning stream is process-wide, so in-process decoding stays on one thread): on two free cores
// the pool should approach twice the in-process rate.
void compare_threads(const std::string& label, const fs::path& file, int files_each) {
  const int threads = 2;
  dicom::DicomDecoder decoder;
  const double local =
      files_per_second(1, files_each, [&] { decoder.decode(file.string(), 1, dicom::DecodeOptions{}); });
  dicom::DecoderPool pool(pool_options(threads, 0));
  files_per_second(threads, 1,
                   [&] { pool.decode(file.string(), 1, dicom::DecodeOptions{}); }); // start both helpers
  const double pooled =
      files_per_second(threads, files_each, [&] { pool.decode(file.string(), 1, dicom::DecodeOptions{}); });
  std::printf("%-34s in-process, 1 thread %6.1f files/s | pool of %d, %d threads %6.1f files/s (%.2fx)\n",
              label.c_str(), local, threads, threads, pooled, pooled / local);
  std::fflush(stdout);
}

// A radiograph of 2000x2500 pixels: a FracAtlas image enlarged, as 8 bits and as 12 bits (with
// fine noise in the low bits, as detectors give).
cv::Mat radiograph(int bits) {
  const fs::path source = fs::path(RADPIPE_SHARED_DIR) / "data" / "fracatlas" / "images" / "IMG0000000.jpg";
  cv::Mat gray = cv::imread(source.string(), cv::IMREAD_GRAYSCALE);
  if (gray.empty()) {
    gray = cv::Mat(512, 410, CV_8UC1);
    cv::randu(gray, 0, 256);
    cv::GaussianBlur(gray, gray, cv::Size(31, 31), 8.0);
  }
  cv::resize(gray, gray, cv::Size(2000, 2500), 0, 0, cv::INTER_CUBIC);
  if (bits == 8) return gray;
  cv::Mat wide, noise(gray.size(), CV_16UC1);
  gray.convertTo(wide, CV_16U, 16.0);
  cv::randu(noise, 0, 16);
  return wide + noise;
}

dicom::testing::DicomSpec spec_of(const cv::Mat& image, int bits) {
  dicom::testing::DicomSpec spec;
  spec.rows = image.rows;
  spec.columns = image.cols;
  spec.bits_allocated = bits == 8 ? 8 : 16;
  spec.bits_stored = bits;
  cv::Mat wide;
  image.reshape(1, 1).convertTo(wide, CV_64F);
  spec.values.assign(wide.begin<double>(), wide.end<double>());
  if (bits == 12) spec.window = std::pair{2048.0, 4096.0};
  return spec;
}

} // namespace

int main(int argc, char** argv) {
  radpipe::keep_freed_memory_for_reuse(); // in-process decoding as in radpipe's own process
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
  testing::TempFolder scratch;

  dicom::testing::DicomSpec small;
  small.rows = small.columns = 64;
  small.values = dicom::testing::ramp(64, 64, 1);
  const fs::path small_file = scratch.path() / "small.dcm";
  dicom::testing::write_dicom(small_file, small);

  const fs::path uncompressed = scratch.path() / "uncompressed.dcm";
  dicom::testing::write_dicom(uncompressed, spec_of(radiograph(12), 12));
  auto jpeg_spec = spec_of(radiograph(8), 8);
  jpeg_spec.encoding = dicom::testing::Encoding::JpegBaseline;
  const fs::path jpeg = scratch.path() / "jpeg.dcm";
  dicom::testing::write_dicom(jpeg, jpeg_spec);

  std::printf("ms per file, %d repeats after a warm-up; ratios are wall time against in-process\n", repeats);
  compare("64x64 16-bit uncompressed", small_file, repeats * 4);
  compare("2000x2500 12-bit uncompressed", uncompressed, repeats);
  compare("2000x2500 8-bit JPEG baseline", jpeg, repeats);
  const fs::path rg3 = dicom::testing::shared_dicom("RG3_J2KR.dcm");
  if (fs::exists(rg3)) compare("RG3_J2KR 1760x1760 JPEG 2000", rg3, std::max(2, repeats / 3));

  compare_threads("2000x2500 12-bit uncompressed", uncompressed, repeats);
  compare_threads("2000x2500 8-bit JPEG baseline", jpeg, repeats);

  // What listing adds: counting each file's frames reads its header in a helper.
  dicom::DecoderPool counter(pool_options(1, 0));
  counter.count_frames(jpeg.string());
  const auto start = Clock::now();
  for (int i = 0; i < repeats * 10; ++i) counter.count_frames(jpeg.string());
  std::printf("counting frames (reader.next) %.2f ms per file\n", ms_since(start) / (repeats * 10));
}
