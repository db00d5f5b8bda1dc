// From a run's predictions to a study's DICOM result objects: the part the `dicom_results` writer
// (files) and the `orthanc` writer (a PACS) share. They differ only in where a prediction's source
// comes from (a file, or the PACS it was fetched from), which a SourceAccess supplies, and in
// where the objects go.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <opencv2/core/mat.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <span>
#include <string>
#include <vector>

#include "dicom_object.hpp"
#include "findings.hpp"
#include "isolated_decoder.hpp"

namespace radpipe::dicom_results {

// The result parameters both writers take (schema_specs), read and checked.
struct ResultSettings {
  ResultSeriesOptions series;
  ModelIdentity model;
  double threshold = 0.5;
  bool report = true;   // the Comprehensive SR
  bool captures = true; // a Secondary Capture per image
  bool overlay = true;  // the heatmap blended into each capture
  // A writer with these settings asks the host for heatmaps (Writer::wants_heatmaps).
  bool wants_heatmaps() const { return captures && overlay; }
  std::string window = "tags";
  std::chrono::milliseconds decoder_time_limit{120000};

  static std::vector<ParamSpec> schema_specs();
  // Hashes the checkpoint file. Throws StageError naming the key at fault.
  static ResultSettings from(const Params& params);
};

// Where a writer finds the source of a prediction.
class SourceAccess {
 public:
  virtual ~SourceAccess() = default;
  virtual SourceHeader header(const SampleInfo& info) = 0;
  // The image as the dicom reader decodes it (CV_16UC1 over 0..65535, bone bright).
  virtual cv::Mat display_pixels(const SampleInfo& info) = 0;
};

// Sources that are DICOM files (info.path), decoded in the isolated decoder.
class FileSources final : public SourceAccess {
 public:
  explicit FileSources(IsolatedDecoder decoder) : decoder_(std::move(decoder)) {}
  SourceHeader header(const SampleInfo& info) override;
  cv::Mat display_pixels(const SampleInfo& info) override;

 private:
  IsolatedDecoder decoder_;
};

cv::Mat to_mat(dicom::DecodedDicom&& decoded);

// The images of each study, in the order of `studies`.
struct StudyImages {
  const StudyPrediction* study = nullptr;
  std::vector<const ImagePrediction*> images;
};

// A streaming writer's images of the studies the host has not sent yet (Writer::write_study comes
// after all of a study's images). Holds what the host holds: one study at a time for readers that
// list studies together, every open study otherwise.
class OpenStudies {
 public:
  void add(const ImagePrediction& image) { images_[image.info.study_key()].push_back(image); }
  // The study's images in the order they came, no longer held; empty when none came.
  std::vector<ImagePrediction> take(const std::string& study_id);
  std::size_t size() const { return images_.size(); }

 private:
  std::map<std::string, std::vector<ImagePrediction>, std::less<>> images_;
};

// `study` with pointers into `images` (from OpenStudies::take), as ResultBuilder::build takes it.
StudyImages study_images(const StudyPrediction& study, const std::vector<ImagePrediction>& images);

class ResultBuilder {
 public:
  explicit ResultBuilder(ResultSettings settings);
  const ResultSettings& settings() const { return settings_; }

  // The report and the captures of one study. Throws DicomResultError or DecodeFailure when a
  // source cannot be read, StageError when the study's verdict was reached at another threshold.
  std::vector<DicomObject> build(const StudyImages& study, SourceAccess& sources) const;

 private:
  ResultSettings settings_;
};

} // namespace radpipe::dicom_results
