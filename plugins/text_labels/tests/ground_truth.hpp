// The hand-drawn text label boxes of tests/data/text_boxes.csv and how detections are scored
// against them. Shared by the test that guards the detector's quality and by the
// text_labels_evaluate tool that prints it.
//
// Matching is by centre: a detection is correct when its centre lies inside a truth box, and a
// truth box is found when the centre of at least one detection lies inside it. Centres, not
// IoU, because the truth puts a side letter and its caption in one box, and a detector that
// boxes them separately has still found (and masks) that label; a box that swallows two labels
// has its centre in neither and counts against both precision and recall.
#pragma once

#include <cstddef>
#include <filesystem>
#include <opencv2/core/types.hpp>
#include <string>
#include <vector>

namespace radpipe::text_labels::testing {

struct LabelledImage {
  std::string image;           // relative to the FracAtlas folder
  std::string split;           // from FracAtlas's labels.csv: train or valid
  std::vector<cv::Rect> boxes; // empty: looked at, no text
};

// Reads `boxes_csv` (image,x,y,width,height,text) and takes each image's split from
// `fracatlas_dir`/labels.csv. Throws std::runtime_error naming the file and line on bad input.
std::vector<LabelledImage> load_text_boxes(const std::filesystem::path& boxes_csv,
                                           const std::filesystem::path& fracatlas_dir);

struct Score {
  std::size_t images = 0;
  std::size_t detections = 0;
  std::size_t correct_detections = 0; // centre inside some truth box
  std::size_t truths = 0;
  std::size_t found_truths = 0; // some detection's centre inside it
  std::size_t truth_pixels = 0;
  std::size_t covered_truth_pixels = 0; // truth pixels inside some detection

  double precision() const; // 1 when there are no detections
  double recall() const;    // 1 when there is no truth
  double coverage() const;  // covered over all truth pixels
  Score& operator+=(const Score& other);
};

Score score_image(const std::vector<cv::Rect>& detections, const std::vector<cv::Rect>& truths,
                  cv::Size image_size);

} // namespace radpipe::text_labels::testing
