// Writer stages: the files `predict` makes, streamed in whole lines as results arrive.
#pragma once

#include <radpipe/output_file.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

#include <memory>
#include <optional>

namespace radpipe::writers {

// predictions.csv (one row per image) and studies.csv (one row per study), as predict has always
// written them.
class Csv : public Writer {
public:
  Csv(const Params& params, const StageContext& context);
  static Schema schema();
  void open(const WriterRun& run) override;
  void write_image(const ImagePrediction& image) override;
  void write_study(const StudyPrediction& study) override;
  std::vector<CommittedFile> commit() override;
  void close() override;

private:
  std::string images_name_;
  std::string studies_name_;
  bool routed_ = false;
  std::optional<OutputFile> images_;
  std::optional<OutputFile> studies_;
};

// One JSON object per line for each image ("type": "image", every metadata field and tag) and
// each study ("type": "study").
class Jsonl : public Writer {
public:
  Jsonl(const Params& params, const StageContext& context);
  static Schema schema();
  void open(const WriterRun& run) override;
  void write_image(const ImagePrediction& image) override;
  void write_study(const StudyPrediction& study) override;
  std::vector<CommittedFile> commit() override;
  void close() override;

private:
  std::string name_;
  bool images_ = true;
  bool studies_ = true;
  std::optional<OutputFile> file_;
};

// MURA's submission format: one "study path,predicted" row per study, no header.
class MuraSubmission : public Writer {
public:
  MuraSubmission(const Params& params, const StageContext& context);
  static Schema schema();
  void open(const WriterRun& run) override;
  void write_image(const ImagePrediction& /*image*/) override {}
  void write_study(const StudyPrediction& study) override;
  std::vector<CommittedFile> commit() override;
  void close() override;

private:
  std::string name_;
  std::optional<OutputFile> file_;
};

} // namespace radpipe::writers
