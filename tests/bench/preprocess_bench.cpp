// Throughput of the first preprocessing steps on the FracAtlas train split: decode (the csv
// reader's load), grayscale, resize to 320x320 and to 128x128 and normalize, each with 1 and 2
// threads working on different images, as the host's decode workers do. Prints images/s per step
// and the ratio 2-thread / 1-thread measured in this run, so that the numbers compare only with
// each other; then the resize stage against cv::resize(INTER_AREA) on the same images.
//
//   cmake -S . -B build -DRADPIPE_BUILD_BENCHMARKS=ON && cmake --build build --target bench_preprocess
//   build/tests/bench/bench_preprocess [--benchmark_min_time=2]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "color.hpp"
#include "csv_reader.hpp"
#include "normalize.hpp"
#include "resize.hpp"

namespace {

using namespace radpipe;

// The images the in-memory steps cycle through: enough to defeat caches, few enough (about
// 170 MB of decoded RGB) to share a small machine.
constexpr std::size_t cached_images = 256;

struct Data {
  std::unique_ptr<readers::CsvReader> reader;
  std::vector<SampleInfo> train;              // every train row, for decoding
  std::vector<Sample> decoded, gray, resized; // each step's input, from the first cached_images rows
  std::unique_ptr<transforms::Grayscale> grayscale;
  std::unique_ptr<transforms::Resize> resize, resize_128;
  std::unique_ptr<transforms::Normalize> normalize;
};

Data load_data() {
  Data data;
  const std::filesystem::path labels =
      std::filesystem::path(RADPIPE_SHARED_DIR) / "data" / "fracatlas" / "labels.csv";
  data.reader = std::make_unique<readers::CsvReader>(
      resolve_params(readers::CsvReader::schema(), {{"file", labels.string()},
                                                    {"label_column", std::string("fractured")},
                                                    {"split", std::string("train")}}),
      StageContext{});
  while (auto info = data.reader->next()) data.train.push_back(std::move(*info));

  data.grayscale = std::make_unique<transforms::Grayscale>(
      resolve_params(transforms::Grayscale::schema(), {}), StageContext{});
  data.resize = std::make_unique<transforms::Resize>(
      resolve_params(transforms::Resize::schema(), {{"size", std::vector<std::int64_t>{320, 320}}}),
      StageContext{});
  data.resize_128 = std::make_unique<transforms::Resize>(
      resolve_params(transforms::Resize::schema(),
                     {{"size", std::vector<std::int64_t>{128, 128}}, {"mode", std::string("stretch")}}),
      StageContext{});
  data.normalize = std::make_unique<transforms::Normalize>(
      resolve_params(transforms::Normalize::schema(), {}), StageContext{});

  const TransformContext context;
  for (std::size_t i = 0; i < std::min(cached_images, data.train.size()); ++i) {
    Sample sample = data.reader->load(data.train[i]);
    data.decoded.push_back(sample);
    data.grayscale->apply(sample, context);
    data.gray.push_back(sample);
    data.resize->apply(sample, context);
    data.resized.push_back(sample);
  }
  return data;
}

// Thread t of n handles images t, t + n, t + 2n, ... of `count`, one per iteration.
template <class Step>
void run_per_image(benchmark::State& state, std::size_t count, Step&& step) {
  std::size_t position = static_cast<std::size_t>(state.thread_index());
  const auto stride = static_cast<std::size_t>(state.threads());
  for (auto _ : state) {
    step(position % count);
    position += stride;
  }
  state.SetItemsProcessed(state.iterations());
}

// Applies `transform` to a shallow copy of each input sample: transforms write a new image and
// leave the input's pixels alone, so the cached inputs stay valid for every iteration.
void run_transform(benchmark::State& state, const Transform& transform, const std::vector<Sample>& inputs) {
  const TransformContext context;
  run_per_image(state, inputs.size(), [&](std::size_t i) {
    Sample sample = inputs[i];
    transform.apply(sample, context);
    benchmark::DoNotOptimize(sample.image.data);
  });
}

// The console output, plus each step's items/s by thread count for the ratios.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& reports) override {
    for (const Run& run : reports) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      const auto rate = run.counters.find("items_per_second");
      if (rate != run.counters.end()) rates[run.run_name.function_name][run.threads] = rate->second.value;
    }
    ConsoleReporter::ReportRuns(reports);
  }
  std::map<std::string, std::map<int, double>> rates;
};

} // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // "Threads" here are radpipe's workers; OpenCV's own pool would blur what they measure.
  cv::setNumThreads(1);
  const Data data = load_data();
  if (data.train.empty()) {
    std::fprintf(stderr, "no train rows in %s/data/fracatlas/labels.csv\n", RADPIPE_SHARED_DIR);
    return 1;
  }
  std::fprintf(stderr, "FracAtlas train split: %zu images to decode; %zu cached for the other steps\n",
               data.train.size(), data.decoded.size());

  const std::vector<std::string> steps{"decode",     "grayscale",       "resize_320", "opencv_area_320",
                                       "resize_128", "opencv_area_128", "normalize"};
  const auto add = [](const std::string& name, auto&& body) {
    benchmark::RegisterBenchmark(name.c_str(), body)->Threads(1)->Threads(2)->UseRealTime()->MinTime(1.0);
  };
  add(steps[0], [&](benchmark::State& state) {
    run_per_image(state, data.train.size(), [&](std::size_t i) {
      Sample sample = data.reader->load(data.train[i]);
      benchmark::DoNotOptimize(sample.image.data);
    });
  });
  add(steps[1], [&](benchmark::State& state) { run_transform(state, *data.grayscale, data.decoded); });
  add(steps[2], [&](benchmark::State& state) { run_transform(state, *data.resize, data.gray); });
  // The bare call the resize stage replaces on these shrinks: pad mode's content size at 320, the
  // full image at 128 (stretch).
  const auto opencv_area = [&](benchmark::State& state, cv::Size size, bool keep_aspect) {
    run_per_image(state, data.gray.size(), [&](std::size_t i) {
      const cv::Mat& image = data.gray[i].image;
      const double scale = std::min(static_cast<double>(size.width) / image.cols,
                                    static_cast<double>(size.height) / image.rows);
      const cv::Size target = keep_aspect ? cv::Size(static_cast<int>(std::lround(image.cols * scale)),
                                                     static_cast<int>(std::lround(image.rows * scale)))
                                          : size;
      cv::Mat output;
      cv::resize(image, output, target, 0, 0, cv::INTER_AREA);
      benchmark::DoNotOptimize(output.data);
    });
  };
  add(steps[3], [&](benchmark::State& state) { opencv_area(state, {320, 320}, true); });
  add(steps[4], [&](benchmark::State& state) { run_transform(state, *data.resize_128, data.gray); });
  add(steps[5], [&](benchmark::State& state) { opencv_area(state, {128, 128}, false); });
  add(steps[6], [&](benchmark::State& state) { run_transform(state, *data.normalize, data.resized); });

  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  std::printf("\n%-16s %16s %16s %10s\n", "step", "1 thread img/s", "2 threads img/s", "2t/1t");
  for (const std::string& step : steps) {
    const auto found = reporter.rates.find(step);
    if (found == reporter.rates.end() || !found->second.count(1) || !found->second.count(2)) continue;
    const double one = found->second.at(1), two = found->second.at(2);
    std::printf("%-16s %16.1f %16.1f %10.2f\n", step.c_str(), one, two, two / one);
  }
  std::printf("\n%-16s %16s %16s %10s\n", "1 thread", "radpipe img/s", "cv::resize img/s", "ratio");
  for (const auto& [ours, theirs] :
       {std::pair{"resize_320", "opencv_area_320"}, std::pair{"resize_128", "opencv_area_128"}}) {
    const auto radpipe = reporter.rates.find(ours), opencv = reporter.rates.find(theirs);
    if (radpipe == reporter.rates.end() || opencv == reporter.rates.end() || !radpipe->second.count(1) ||
        !opencv->second.count(1))
      continue;
    std::printf("%-16s %16.1f %16.1f %10.2f\n", ours, radpipe->second.at(1), opencv->second.at(1),
                radpipe->second.at(1) / opencv->second.at(1));
  }
  return 0;
}
