// text_labels_evaluate: measures mask_text_labels' detector against the hand-drawn boxes of
// tests/data/text_boxes.csv and prints precision, recall and pixel coverage per FracAtlas split.
//
//   build/tests/text_labels_evaluate [--verbose] [--candidates] [--overlay DIR] [KEY=VALUE ...]
//
// KEY=VALUE sets a parameter of the stage as a pipeline would (min_contrast=0.4, fill=zero,
// detector=tesseract), which is how the defaults were tuned. --overlay writes, per image, the
// truth (green) and detections (red) beside the masked result.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/error.hpp>
#include <string>

#include "ground_truth.hpp"
#include "mask_text_labels.hpp"

namespace {

using namespace radpipe;
using namespace radpipe::text_labels;
using radpipe::text_labels::testing::Score;

void print_row(const std::string& name, const Score& score) {
  std::printf("%-6s %6zu %10zu %8zu %9.3f %7zu %6zu %7.3f %9.3f\n", name.c_str(), score.images,
              score.detections, score.correct_detections, score.precision(), score.truths, score.found_truths,
              score.recall(), score.coverage());
}

cv::Mat overlay(const cv::Mat& gray, const cv::Mat& masked, const std::vector<cv::Rect>& truths,
                const std::vector<cv::Rect>& detections) {
  cv::Mat left, right, both;
  cv::cvtColor(gray, left, cv::COLOR_GRAY2BGR);
  cv::cvtColor(masked, right, cv::COLOR_GRAY2BGR);
  for (const cv::Rect& truth : truths) cv::rectangle(left, truth, {0, 255, 0}, 1);
  for (const cv::Rect& detection : detections) cv::rectangle(left, detection, {0, 0, 255}, 1);
  cv::hconcat(left, right, both);
  return both;
}

} // namespace

int main(int argc, char** argv) {
  bool verbose = false, candidates = false;
  std::filesystem::path overlay_dir;
  std::map<std::string, ParamValue> values;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--verbose") {
      verbose = true;
    } else if (argument == "--candidates") {
      candidates = true;
    } else if (argument == "--overlay" && i + 1 < argc) {
      overlay_dir = argv[++i];
      std::filesystem::create_directories(overlay_dir);
    } else if (const auto equals = argument.find('='); equals != std::string::npos) {
      const std::string key = argument.substr(0, equals), value = argument.substr(equals + 1);
      char* end = nullptr;
      const double number = std::strtod(value.c_str(), &end);
      values[key] = (end && *end == '\0' && !value.empty()) ? ParamValue{number} : ParamValue{value};
    } else {
      std::cerr << "usage: text_labels_evaluate [--verbose] [--candidates] [--overlay DIR] [KEY=VALUE ...]\n";
      return 2;
    }
  }
  try {
    const std::filesystem::path fracatlas = std::filesystem::path(RADPIPE_SHARED_DIR) / "data" / "fracatlas";
    const Params params = resolve_params(MaskTextLabels::schema(), values);
    const MaskTextLabels stage(params, StageContext{});
    std::map<std::string, Score> scores;
    for (const auto& labelled : text_labels::testing::load_text_boxes(RADPIPE_TEXT_BOXES_CSV, fracatlas)) {
      const cv::Mat image = cv::imread((fracatlas / labelled.image).string(), cv::IMREAD_GRAYSCALE);
      if (image.empty()) throw std::runtime_error(labelled.image + ": cannot decode");
      const std::vector<cv::Rect> detections = stage.find_labels(image);
      const Score score = text_labels::testing::score_image(detections, labelled.boxes, image.size());
      scores[labelled.split] += score;
      scores["all"] += score;
      if (verbose)
        std::printf("%s %s detections %zu correct %zu truths %zu found %zu\n", labelled.image.c_str(),
                    labelled.split.c_str(), score.detections, score.correct_detections, score.truths,
                    score.found_truths);
      if (candidates)
        for (const Candidate& candidate : text_candidates(image, stage.detector_settings()))
          if (candidate.box.height >= 3)
            std::printf("  %s [%d %d %dx%d] fill %.2f stroke %.2f contrast %.2f peak %.2f %s\n",
                        labelled.image.c_str(), candidate.box.x, candidate.box.y, candidate.box.width,
                        candidate.box.height, candidate.fill, candidate.stroke, candidate.contrast,
                        candidate.peak, candidate.is_character ? "CHAR" : candidate.rejected_by.c_str());
      if (!overlay_dir.empty()) {
        Sample sample;
        sample.info.id = labelled.image;
        sample.image = image;
        stage.apply(sample, TransformContext{});
        const std::string name = std::filesystem::path(labelled.image).stem().string() + ".png";
        cv::imwrite((overlay_dir / name).string(), overlay(image, sample.image, labelled.boxes, detections));
      }
    }
    std::printf("%-6s %6s %10s %8s %9s %7s %6s %7s %9s\n", "split", "images", "detections", "correct",
                "precision", "truths", "found", "recall", "coverage");
    for (const auto& [split, score] : scores) print_row(split, score);
  } catch (const StageError& error) {
    std::cerr << "text_labels_evaluate: key " << error.key() << ": " << error.what() << "\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "text_labels_evaluate: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
