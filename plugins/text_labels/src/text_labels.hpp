// Finding burned-in text labels ("L", "R", captions, a clinic's marker plate) in a radiograph
// with OpenCV alone. The stage `mask_text_labels` calls this, and so can anything that wants to
// show or measure what the stage masks (tests, reports): the boxes come out in the pixel
// coordinates of the image passed in.
//
// How: such labels are printed into the pixels at full or near-full intensity, so they stand far
// above their surroundings over a small area. A white top-hat keeps bright structures narrower
// than its kernel; its response, thresholded, gives candidate components; each component is
// kept when its size, aspect, fill and stroke width look like a character (or a small marker
// plate) and is as bright above its surroundings as printed text is; kept characters close to one another are
// grouped into one label box. All sizes are fractions of the image's shorter side, so that one setting works
// at any resolution.
#pragma once

#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

namespace radpipe::text_labels {

struct DetectorSettings {
  double tophat_size = 0.0;        // top-hat kernel side
  double min_pixel_contrast = 0.0; // top-hat response of a candidate pixel, fraction of full intensity
  double min_char_contrast = 0.0;  // mean top-hat response over a character, likewise
  double min_char_height = 0.0;    // character (or plate) bounding box limits
  double max_char_height = 0.0;
  double max_char_width = 0.0;
  double max_aspect = 0.0; // longer side over shorter side of a character box
  double min_fill = 0.0;   // component pixels over bounding-box pixels
  double max_fill = 0.0;
  double max_stroke = 0.0; // stroke width (twice the deepest inscribed distance)
  double group_gap = 0.0;  // characters closer than this form one label
  double margin = 0.0;     // added around each label box
};

// One connected component of the thresholded top-hat, with what the rules measured on it.
struct Candidate {
  cv::Rect box;
  double fill = 0.0;     // pixels over box area
  double stroke = 0.0;   // twice the largest inscribed distance, over the image's shorter side
  double contrast = 0.0; // mean top-hat response over the component, as a fraction of full intensity
  double peak = 0.0;     // greatest top-hat response in the component, likewise
  bool is_character = false;
  std::string rejected_by; // the first rule it failed, empty when it is a character
};

// Any radpipe image (1 or 3 channels; 8-bit, 16-bit or [0, 1] float) as 8-bit gray, which is
// what the detectors work on.
cv::Mat to_gray8(const cv::Mat& image);

// Every candidate component of `image` and the verdict of the character rules on it.
std::vector<Candidate> text_candidates(const cv::Mat& image, const DetectorSettings& settings);

// The text label boxes of `image`: characters grouped, widened by the margin, clipped to the image.
std::vector<cv::Rect> detect_text_labels(const cv::Mat& image, const DetectorSettings& settings);

// Groups boxes with fewer than `gap` empty pixels between them (transitively) and returns each group's
// bounding box.
std::vector<cv::Rect> group_boxes(std::vector<cv::Rect> boxes, int gap);

// Label boxes from the pieces a detector found (characters, words): grouped at `group_gap`,
// widened by `margin` (both fractions of the image's shorter side) and clipped to the image.
std::vector<cv::Rect> label_boxes(std::vector<cv::Rect> pieces, cv::Size image_size, double group_gap,
                                  double margin);

} // namespace radpipe::text_labels
