#include "result_builder.hpp"

#include <cmath>
#include <radpipe/error.hpp>
#include <stdexcept>

#include "secondary_capture.hpp"
#include "structured_report.hpp"
#include "uids.hpp"

namespace radpipe::dicom_results {
namespace {

bool printable(const std::string& text) {
  return printable_ascii(text) == text;
}

} // namespace

std::vector<ParamSpec> ResultSettings::schema_specs() {
  return {
      ParamSpec::string(
          "uid_root",
          "UID root of the result series and objects, each UID derived from it, the source study and "
          "the checkpoint's hash (the site's registered root; \"2.25\" makes UUID-derived UIDs)")
          .with_default("2.25"),
      ParamSpec::string("model_name", "The model's name as the results show it (printable ASCII)"),
      ParamSpec::string("model_version", "The model's version as the results show it (printable ASCII)"),
      ParamSpec::path("checkpoint", "The weights file the model ran with; its SHA-256 goes into the results")
          .existing(),
      ParamSpec::real("threshold",
                      "The operating point the verdicts were reached at (the [aggregate] threshold); a study "
                      "whose verdict disagrees with it is refused")
          .with_default(0.5)
          .in_range(0.0, 1.0),
      ParamSpec::boolean("report", "Write a Comprehensive SR (TID 1500) per study").with_default(true),
      ParamSpec::boolean("captures", "Write a Secondary Capture per image, the verdict burned in")
          .with_default(true),
      ParamSpec::boolean("overlay",
                         "Blend where the model looked into each capture: the pipeline's [explain] stage "
                         "(Grad-CAM) then runs during predict, a backward pass per batch")
          .with_default(true),
      ParamSpec::integer("capture_max_side", "Secondary captures are scaled down to fit this many pixels")
          .with_default(1024)
          .in_range(256, 4096),
      ParamSpec::integer("report_series_number", "SeriesNumber of the reports")
          .with_default(9901)
          .in_range(1, 99999),
      ParamSpec::integer("capture_series_number", "SeriesNumber of the secondary captures")
          .with_default(9902)
          .in_range(1, 99999),
      ParamSpec::string("window", "How the captures show intensities, as the dicom reader's window")
          .with_default("tags")
          .one_of({"tags", "full", "percentile"}),
      ParamSpec::real("decoder_timeout_s", "Time limit for decoding one source image for its capture")
          .with_default(120.0)
          .in_range(1.0, 3600.0),
  };
}

ResultSettings ResultSettings::from(const Params& params) {
  ResultSettings settings;
  settings.series.uid_root = params.string("uid_root");
  if (const std::string problem = uid_root_problem(settings.series.uid_root); !problem.empty())
    throw StageError("uid_root", "\"" + settings.series.uid_root + "\" is not a UID root: " + problem);
  settings.model.name = params.string("model_name");
  settings.model.version = params.string("model_version");
  for (const auto& [key, value] :
       {std::pair{"model_name", settings.model.name}, std::pair{"model_version", settings.model.version}})
    if (value.empty() || !printable(value) || value.size() > 60)
      throw StageError(key,
                       "write 1 to 60 printable ASCII characters: DICOM result texts must read the same in "
                       "every character set a source may use");
  try {
    settings.model.checkpoint_sha256 = sha256_of_file(params.path("checkpoint"));
  } catch (const std::exception& error) {
    throw StageError("checkpoint", error.what());
  }
  settings.threshold = params.real("threshold");
  settings.report = params.boolean("report");
  settings.captures = params.boolean("captures");
  settings.overlay = params.boolean("overlay");
  if (!settings.report && !settings.captures)
    throw StageError("report", "with report = false and captures = false this writer would write nothing");
  settings.series.capture_max_side = static_cast<int>(params.integer("capture_max_side"));
  settings.series.report_series_number = static_cast<int>(params.integer("report_series_number"));
  settings.series.capture_series_number = static_cast<int>(params.integer("capture_series_number"));
  if (settings.series.report_series_number == settings.series.capture_series_number)
    throw StageError("capture_series_number", "the reports and the captures need different series numbers");
  settings.window = params.string("window");
  settings.decoder_time_limit =
      std::chrono::milliseconds(static_cast<long>(std::lround(params.real("decoder_timeout_s") * 1000.0)));
  return settings;
}

cv::Mat to_mat(dicom::DecodedDicom&& decoded) { return std::move(decoded.image); }

SourceHeader FileSources::header(const SampleInfo& info) {
  return SourceHeader::read_file(info.path);
}

cv::Mat FileSources::display_pixels(const SampleInfo& info) {
  try {
    return to_mat(decoder_.decode_file(info.path));
  } catch (const DecodeFailure& failure) {
    throw DecodeFailure("cannot decode " + info.path + " for its capture: " + failure.what());
  }
}

std::vector<ImagePrediction> OpenStudies::take(const std::string& study_id) {
  const auto found = images_.find(study_id);
  if (found == images_.end()) return {};
  std::vector<ImagePrediction> images = std::move(found->second);
  images_.erase(found);
  return images;
}

StudyImages study_images(const StudyPrediction& study, const std::vector<ImagePrediction>& images) {
  StudyImages grouped{&study, {}};
  for (const auto& image : images) grouped.images.push_back(&image);
  return grouped;
}

ResultBuilder::ResultBuilder(ResultSettings settings) : settings_(std::move(settings)) {}

std::vector<DicomObject> ResultBuilder::build(const StudyImages& study, SourceAccess& sources) const {
  const StudyPrediction& prediction = *study.study;
  if ((prediction.probability >= settings_.threshold ? 1 : 0) != prediction.predicted)
    throw StageError("threshold", "study " + prediction.study_id + " was called " +
                                      (prediction.predicted ? "abnormal" : "normal") + " at probability " +
                                      decimal_text(prediction.probability, 4) + ", which the threshold " +
                                      decimal_text(settings_.threshold, 4) +
                                      " contradicts; set it to the [aggregate] threshold the run used");
  StudyFindings findings;
  findings.probability = prediction.probability;
  findings.threshold = settings_.threshold;
  findings.body_part = prediction.body_part;
  findings.chain = prediction.chain.empty() ? study.images.front()->chain : prediction.chain;
  findings.model = settings_.model;
  for (const ImagePrediction* image : study.images)
    findings.images.push_back(ImageFinding{sources.header(image->info), image->probability});

  std::vector<DicomObject> objects;
  if (settings_.report) objects.push_back(make_findings_report(findings, settings_.series));
  if (settings_.captures) {
    for (std::size_t index = 0; index < study.images.size(); ++index) {
      const ImagePrediction& image = *study.images[index];
      const bool overlay = settings_.overlay && !image.heatmap.empty();
      const CaptureFacts facts{image.probability, settings_.threshold, image.chain, settings_.model, overlay};
      const cv::Mat picture =
          render_capture(sources.display_pixels(image.info), overlay ? image.heatmap : cv::Mat(), capture_lines(facts),
                         image.probability >= settings_.threshold, settings_.series.capture_max_side);
      objects.push_back(make_secondary_capture(findings.images[index].source, picture, facts,
                                               settings_.series, static_cast<int>(index + 1)));
    }
  }
  return objects;
}

} // namespace radpipe::dicom_results
