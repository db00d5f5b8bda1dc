#include "ground_truth.hpp"

#include <fstream>
#include <map>
#include <opencv2/core.hpp>
#include <sstream>
#include <stdexcept>

namespace radpipe::text_labels::testing {
namespace {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

std::map<std::string, std::string> fracatlas_splits(const std::filesystem::path& labels_csv) {
  std::ifstream in(labels_csv);
  if (!in) throw std::runtime_error(labels_csv.string() + ": cannot open (is the shared data there?)");
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = split_csv_line(line);
  std::size_t image_column = header.size(), split_column = header.size();
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "image") image_column = i;
    if (header[i] == "split") split_column = i;
  }
  if (image_column == header.size() || split_column == header.size())
    throw std::runtime_error(labels_csv.string() + ": expected columns image and split");
  std::map<std::string, std::string> splits;
  while (std::getline(in, line)) {
    const std::vector<std::string> fields = split_csv_line(line);
    if (fields.size() > std::max(image_column, split_column))
      splits[fields[image_column]] = fields[split_column];
  }
  return splits;
}

} // namespace

std::vector<LabelledImage> load_text_boxes(const std::filesystem::path& boxes_csv,
                                           const std::filesystem::path& fracatlas_dir) {
  const std::map<std::string, std::string> splits = fracatlas_splits(fracatlas_dir / "labels.csv");
  std::ifstream in(boxes_csv);
  if (!in) throw std::runtime_error(boxes_csv.string() + ": cannot open");
  std::vector<LabelledImage> images;
  std::map<std::string, std::size_t> index;
  std::string line;
  std::getline(in, line); // header
  for (int number = 2; std::getline(in, line); ++number) {
    const std::vector<std::string> fields = split_csv_line(line);
    const std::string where = boxes_csv.string() + ":" + std::to_string(number);
    if (fields.size() != 6)
      throw std::runtime_error(where + ": expected 6 fields, got " + std::to_string(fields.size()));
    const auto split = splits.find(fields[0]);
    if (split == splits.end())
      throw std::runtime_error(where + ": " + fields[0] + " is not in FracAtlas's labels.csv");
    auto [position, added] = index.try_emplace(fields[0], images.size());
    if (added) images.push_back({fields[0], split->second, {}});
    if (fields[1].empty()) continue; // an image without text
    try {
      images[position->second].boxes.emplace_back(std::stoi(fields[1]), std::stoi(fields[2]),
                                                  std::stoi(fields[3]), std::stoi(fields[4]));
    } catch (const std::logic_error&) {
      throw std::runtime_error(where + ": x, y, width and height must be whole numbers");
    }
  }
  return images;
}

double Score::precision() const {
  return detections == 0 ? 1.0 : static_cast<double>(correct_detections) / static_cast<double>(detections);
}
double Score::recall() const {
  return truths == 0 ? 1.0 : static_cast<double>(found_truths) / static_cast<double>(truths);
}
double Score::coverage() const {
  return truth_pixels == 0 ? 1.0
                           : static_cast<double>(covered_truth_pixels) / static_cast<double>(truth_pixels);
}

Score& Score::operator+=(const Score& other) {
  images += other.images;
  detections += other.detections;
  correct_detections += other.correct_detections;
  truths += other.truths;
  found_truths += other.found_truths;
  truth_pixels += other.truth_pixels;
  covered_truth_pixels += other.covered_truth_pixels;
  return *this;
}

Score score_image(const std::vector<cv::Rect>& detections, const std::vector<cv::Rect>& truths,
                  cv::Size image_size) {
  const auto centre = [](const cv::Rect& box) {
    return cv::Point2d(box.x + box.width / 2.0, box.y + box.height / 2.0);
  };
  const auto inside = [](const cv::Point2d& point, const cv::Rect& box) {
    return point.x >= box.x && point.x < box.x + box.width && point.y >= box.y &&
           point.y < box.y + box.height;
  };
  Score score;
  score.images = 1;
  score.detections = detections.size();
  score.truths = truths.size();
  for (const cv::Rect& detection : detections)
    for (const cv::Rect& truth : truths)
      if (inside(centre(detection), truth)) {
        ++score.correct_detections;
        break;
      }
  cv::Mat detected = cv::Mat::zeros(image_size, CV_8U);
  for (const cv::Rect& detection : detections) detected(detection & cv::Rect({}, image_size)).setTo(1);
  for (const cv::Rect& truth : truths) {
    for (const cv::Rect& detection : detections)
      if (inside(centre(detection), truth)) {
        ++score.found_truths;
        break;
      }
    const cv::Rect clipped = truth & cv::Rect({}, image_size);
    score.truth_pixels += static_cast<std::size_t>(clipped.area());
    score.covered_truth_pixels += static_cast<std::size_t>(cv::countNonZero(detected(clipped)));
  }
  return score;
}

} // namespace radpipe::text_labels::testing
