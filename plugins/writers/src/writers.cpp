#include "writers.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace radpipe::writers {
namespace {

std::string fixed6(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.6f", value);
  return text;
}

std::string label_text(const std::optional<int>& label) {
  return label ? std::to_string(*label) : std::string();
}

nlohmann::json optional_label(const std::optional<int>& label) {
  return label ? nlohmann::json(*label) : nlohmann::json();
}

} // namespace

Csv::Csv(const Params& params, const StageContext& /*context*/)
    : images_name_(params.string("images")), studies_name_(params.string("studies")) {}

Schema Csv::schema() {
  return Schema{
      ParamSpec::string("images", "File of the image rows, inside --out").with_default("predictions.csv"),
      ParamSpec::string("studies", "File of the study rows, inside --out").with_default("studies.csv")};
}

void Csv::open(const WriterRun& run) {
  routed_ = run.routed;
  images_.emplace(run, images_name_,
                  std::string("id,path,study_id,patient_id,body_part,view,chain,") +
                      (routed_ ? "routed_value,route_confidence," : "") + "probability,predicted,label");
  studies_.emplace(run, studies_name_,
                   "study_id,patient_id,body_part,chain,images,probability,predicted,label");
}

void Csv::write_image(const ImagePrediction& image) {
  const auto& info = image.info;
  std::string line = csv_field(info.id) + ',' + csv_field(info.path) + ',' + csv_field(info.study_key()) +
                     ',' + csv_field(info.patient_id) + ',' + csv_field(info.body_part) + ',' +
                     csv_field(info.view) + ',' + csv_field(image.chain) + ',';
  if (routed_) line += csv_field(image.routed_value) + ',' + fixed6(image.route_confidence) + ',';
  line +=
      fixed6(image.probability) + ',' + std::to_string(image.predicted_class) + ',' + label_text(info.label);
  images_->write_line(line);
}

void Csv::write_study(const StudyPrediction& study) {
  studies_->write_line(csv_field(study.study_id) + ',' + csv_field(study.patient_id) + ',' +
                       csv_field(study.body_part) + ',' + csv_field(study.chain) + ',' +
                       std::to_string(study.image_count) + ',' + fixed6(study.probability) + ',' +
                       std::to_string(study.predicted) + ',' + label_text(study.label));
}

std::vector<CommittedFile> Csv::commit() {
  return {images_->commit(), studies_->commit()};
}

void Csv::close() {
  if (images_) images_->close();
  if (studies_) studies_->close();
}

Jsonl::Jsonl(const Params& params, const StageContext& /*context*/)
    : name_(params.string("file")), images_(params.boolean("images")), studies_(params.boolean("studies")) {}

Schema Jsonl::schema() {
  return Schema{ParamSpec::string("file", "File inside --out").with_default("predictions.jsonl"),
                ParamSpec::boolean("images", "Write a line per image").with_default(true),
                ParamSpec::boolean("studies", "Write a line per study").with_default(true)};
}

void Jsonl::open(const WriterRun& run) {
  file_.emplace(run, name_);
}

void Jsonl::write_image(const ImagePrediction& image) {
  if (!images_) return;
  const auto& info = image.info;
  nlohmann::json line{{"type", "image"},
                      {"id", info.id},
                      {"path", info.path},
                      {"study_id", info.study_key()},
                      {"patient_id", info.patient_id},
                      {"body_part", info.body_part},
                      {"view", info.view},
                      {"split", info.split},
                      {"label", optional_label(info.label)},
                      {"tags", info.tags},
                      {"chain", image.chain},
                      {"probability", image.probability},
                      {"predicted", image.predicted_class}};
  if (info.pixel_spacing_mm) line["pixel_spacing_mm"] = *info.pixel_spacing_mm;
  if (!image.class_probabilities.empty()) line["class_probabilities"] = image.class_probabilities;
  if (!image.routed_value.empty()) {
    line["routed_value"] = image.routed_value;
    line["route_confidence"] = image.route_confidence;
  }
  file_->write_line(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Jsonl::write_study(const StudyPrediction& study) {
  if (!studies_) return;
  nlohmann::json line{{"type", "study"},
                      {"study_id", study.study_id},
                      {"patient_id", study.patient_id},
                      {"body_part", study.body_part},
                      {"chain", study.chain},
                      {"images", study.image_count},
                      {"probability", study.probability},
                      {"predicted", study.predicted},
                      {"label", optional_label(study.label)}};
  if (!study.class_probabilities.empty()) line["class_probabilities"] = study.class_probabilities;
  file_->write_line(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::vector<CommittedFile> Jsonl::commit() {
  return {file_->commit()};
}

void Jsonl::close() {
  if (file_) file_->close();
}

MuraSubmission::MuraSubmission(const Params& params, const StageContext& /*context*/)
    : name_(params.string("file")) {}

Schema MuraSubmission::schema() {
  return Schema{ParamSpec::string("file", "File inside --out").with_default("mura-submission.csv")};
}

void MuraSubmission::open(const WriterRun& run) {
  file_.emplace(run, name_);
}

void MuraSubmission::write_study(const StudyPrediction& study) {
  file_->write_line(csv_field(study.study_id) + ',' + std::to_string(study.predicted));
}

std::vector<CommittedFile> MuraSubmission::commit() {
  return {file_->commit()};
}

void MuraSubmission::close() {
  if (file_) file_->close();
}

} // namespace radpipe::writers
