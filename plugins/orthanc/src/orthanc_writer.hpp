// Writer stage `orthanc`: each study's results (Comprehensive SR, Secondary Captures; the
// dicom_results objects) stored into the same study on the PACS with STOW-RS, then appended to
// the done-record. A study is sent only when every image the orthanc reader listed for it was
// scored, and never twice: studies in the record are skipped, and the objects' UIDs derive from
// the UID root, the study and the checkpoint, so that a study sent again after a kill between
// store and record replaces its objects instead of doubling them.
//
// When the PACS stops answering, the writer stops, says how many studies were sent, and leaves
// the others out of the record: the next run scores and sends them.
//
// Each study is sent when the host sends it (after its last image), so that a kill loses at most
// the study in flight; the done-record, not run.json, says what was sent (commit() reports no
// line files).
#pragma once

#include <map>
#include <memory>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>

#include "dicomweb_client.hpp"
#include "done_record.hpp"
#include "result_builder.hpp"
#include "server_settings.hpp"

namespace radpipe::orthanc {

class OrthancWriter final : public Writer {
 public:
  OrthancWriter(const Params& params, const StageContext& context);
  OrthancWriter(const Params& params, const StageContext& context, std::filesystem::path decoder);
  ~OrthancWriter() override;
  static Schema schema();

  void open(const WriterRun& run) override;
  void write_image(const ImagePrediction& image) override { open_studies_.add(image); }
  void write_study(const StudyPrediction& study) override;
  std::vector<CommittedFile> commit() override { return {}; }
  void close() override;
  bool wants_heatmaps() const override { return builder_.settings().wants_heatmaps(); }

  enum class Outcome { Sent, AlreadyDone, Incomplete };
  // Sends one study's results and records it. Throws HttpError when the PACS does not answer,
  // StageError for a setting at fault, std::runtime_error when the PACS refuses the objects or a
  // source cannot be read.
  Outcome send_study(const dicom_results::StudyImages& study);

 private:
  class PacsSources;
  StageContext context_;
  ServerSettings server_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<DicomWebClient> dicomweb_;
  dicom_results::ResultBuilder builder_;
  std::unique_ptr<DoneRecordWriter> record_;
  std::unique_ptr<PacsSources> sources_;
  dicom_results::OpenStudies open_studies_;
  std::size_t studies_ = 0, sent_ = 0, already_ = 0, incomplete_ = 0, failed_ = 0;
  std::string first_failure_;
  bool closed_ = false;

  std::string summary() const;
};

} // namespace radpipe::orthanc
