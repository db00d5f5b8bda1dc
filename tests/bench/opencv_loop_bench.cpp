// The practical limit of decode + preprocess on one thread: a bare OpenCV loop that reads each
// file as grey (optionally at a reduced JPEG scale), resizes it to SIZE x SIZE and converts it to
// float. tests/bench/compare-python.sh sets radpipe's per-thread throughput against it.
//
//   build/tests/bench/bench_opencv_loop LIST SIZE [full|reduced]
//
// LIST holds one image path a line. "reduced" asks libjpeg for the largest 1/2, 1/4 or 1/8 scale
// whose sides still reach SIZE, as radpipe's decode hints do. Prints images per second.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

int reduced_flag(const std::string& path, int size) {
  // The header alone tells the size: OpenCV has no public call for it, so decode once at 1/8
  // (cheap) and scale back, as a caller without a JPEG parser would.
  const cv::Mat probe = cv::imread(path, cv::IMREAD_REDUCED_GRAYSCALE_8);
  const int shorter = std::min(probe.cols, probe.rows) * 8;
  if (shorter / 8 >= size) return cv::IMREAD_REDUCED_GRAYSCALE_8;
  if (shorter / 4 >= size) return cv::IMREAD_REDUCED_GRAYSCALE_4;
  if (shorter / 2 >= size) return cv::IMREAD_REDUCED_GRAYSCALE_2;
  return cv::IMREAD_GRAYSCALE;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s LIST SIZE [full|reduced]\n", argv[0]);
    return 2;
  }
  cv::setNumThreads(1);
  const int size = std::stoi(argv[2]);
  const bool reduced = argc > 3 && std::string(argv[3]) == "reduced";
  std::vector<std::string> paths;
  std::ifstream list(argv[1]);
  for (std::string line; std::getline(list, line);)
    if (!line.empty()) paths.push_back(line);
  std::vector<int> flags(paths.size(), cv::IMREAD_GRAYSCALE);
  if (reduced) // decided before the clock starts: radpipe reads the size from the JPEG header for free
    for (std::size_t i = 0; i < paths.size(); ++i) flags[i] = reduced_flag(paths[i], size);

  for (std::size_t i = 0; i < std::min<std::size_t>(paths.size(), 50); ++i) cv::imread(paths[i], flags[i]); // warm the page cache
  double checksum = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const cv::Mat grey = cv::imread(paths[i], flags[i]);
    cv::Mat resized, as_float;
    cv::resize(grey, resized, cv::Size(size, size), 0, 0, cv::INTER_AREA);
    resized.convertTo(as_float, CV_32F, 1.0 / 255.0);
    checksum += as_float.at<float>(size / 2, size / 2);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%.1f img/s (%zu images, %s decode, %dx%d, checksum %.3f)\n", static_cast<double>(paths.size()) / seconds,
              paths.size(), reduced ? "reduced" : "full", size, size, checksum);
  return 0;
}
