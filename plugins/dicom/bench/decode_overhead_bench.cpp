// What decoding in a helper process costs: the same files decoded in this process and through
// the reader (one radpipe-dicom-decoder run per file), measured in the same run. Prints ms per
// file for both and their difference, the price of crash isolation.
//   cmake -DRADPIPE_BUILD_BENCHMARKS=ON ... && build/tests/bench_dicom_decode_overhead
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <radpipe/testing.hpp>

#include "dicom_decode.hpp"
#include "dicom_files.hpp"
#include "dicom_reader.hpp"

namespace {

namespace fs = std::filesystem;
using namespace radpipe;

struct Cost {
  double wall_ms = 0.0;
  double cpu_ms = 0.0; // this process and its finished children: counts the helper's work too
};

double cpu_ms_so_far() {
  rusage self{}, children{};
  ::getrusage(RUSAGE_SELF, &self);
  ::getrusage(RUSAGE_CHILDREN, &children);
  const auto ms = [](const timeval& time) { return time.tv_sec * 1e3 + time.tv_usec / 1e3; };
  return ms(self.ru_utime) + ms(self.ru_stime) + ms(children.ru_utime) + ms(children.ru_stime);
}

// Wall time shows what a user waits; CPU time is what the helper really costs on a busy machine.
Cost cost_per_call(int repeats, const std::function<void()>& call) {
  call(); // warm the page cache and the dynamic loader's
  const double cpu_start = cpu_ms_so_far();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) call();
  return {
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / repeats,
      (cpu_ms_so_far() - cpu_start) / repeats};
}

void compare(const std::string& label, const fs::path& file, int repeats) {
  dicom::DicomReader reader(resolve_params(dicom::DicomReader::schema(), {{"path", file.string()}}),
                            StageContext{}, RADPIPE_DICOM_DECODER);
  const SampleInfo info = *reader.next();
  const Cost in_process =
      cost_per_call(repeats, [&] { dicom::decode_dicom_file(file.string(), dicom::WindowOptions{}); });
  const Cost isolated = cost_per_call(repeats, [&] { reader.load(info); });
  std::printf(
      "%-30s in process %7.1f ms wall %7.1f ms cpu | helper %7.1f ms wall %7.1f ms cpu | overhead %6.1f ms "
      "cpu (%.2fx)\n",
      label.c_str(), in_process.wall_ms, in_process.cpu_ms, isolated.wall_ms, isolated.cpu_ms,
      isolated.cpu_ms - in_process.cpu_ms, isolated.cpu_ms / in_process.cpu_ms);
}

} // namespace

int main() {
  testing::TempFolder scratch;
  dicom::testing::DicomSpec small;
  small.rows = small.columns = 64;
  small.values = dicom::testing::ramp(64, 64, 1);
  const fs::path small_file = scratch.path() / "small.dcm";
  dicom::testing::write_dicom(small_file, small);
  dicom::testing::DicomSpec large = small;
  large.rows = large.columns = 2048;
  large.values = dicom::testing::ramp(2048, 2048, 1);
  for (auto& value : large.values) value %= 4096;
  large.bits_stored = 12;
  const fs::path large_file = scratch.path() / "large.dcm";
  dicom::testing::write_dicom(large_file, large);

  compare("64x64 uncompressed", small_file, 40);
  compare("2048x2048 12-bit uncompressed", large_file, 10);
  compare("RG3_J2KR 1760x1760 JPEG 2000", dicom::testing::shared_dicom("RG3_J2KR.dcm"), 3);
}
