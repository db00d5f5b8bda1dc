#include "orthanc_writer.hpp"

#include <radpipe/error.hpp>

#include "orthanc_reader.hpp"
#include "source_header.hpp"

namespace radpipe::orthanc {

using dicom_results::DicomObject;
using dicom_results::SourceHeader;
using dicom_results::StudyImages;

// Sources fetched from the PACS (the orthanc reader's images), or read from files (the dicom
// reader's). A study's fetched instances are kept until the next study, so that its report and
// its captures fetch each instance once.
class OrthancWriter::PacsSources final : public dicom_results::SourceAccess {
 public:
  PacsSources(const DicomWebClient& dicomweb, std::string base_url, dicom_results::IsolatedDecoder decoder)
      : dicomweb_(dicomweb), base_url_(std::move(base_url)), decoder_(decoder), files_(std::move(decoder)) {}

  void next_study() { fetched_.clear(); }

  SourceHeader header(const SampleInfo& info) override {
    if (!from_pacs(info)) return files_.header(info);
    return SourceHeader::read_bytes(bytes(info), info.path);
  }

  cv::Mat display_pixels(const SampleInfo& info) override {
    if (!from_pacs(info)) return files_.display_pixels(info);
    try {
      return dicom_results::to_mat(decoder_.decode_bytes(bytes(info)));
    } catch (const dicom_results::DecodeFailure& failure) {
      throw dicom_results::DecodeFailure("cannot decode " + info.path +
                                         " for its capture: " + failure.what());
    }
  }

 private:
  bool from_pacs(const SampleInfo& info) const { return info.path.starts_with(base_url_ + "/"); }

  const std::string& bytes(const SampleInfo& info) {
    auto found = fetched_.find(info.path);
    if (found == fetched_.end())
      found = fetched_.emplace(info.path, dicomweb_.fetch_instance(info.path)).first;
    return found->second;
  }

  const DicomWebClient& dicomweb_;
  std::string base_url_;
  dicom_results::IsolatedDecoder decoder_;
  dicom_results::FileSources files_;
  std::map<std::string, std::string> fetched_;
};

Schema OrthancWriter::schema() {
  Schema schema{ParamSpec::path("record",
                                "The done-record: one line per study whose results the PACS holds; give the "
                                "orthanc reader the same file. One record per model")};
  for (auto& spec : ServerSettings::schema_specs()) schema.add(std::move(spec));
  for (auto& spec : dicom_results::ResultSettings::schema_specs()) schema.add(std::move(spec));
  return schema;
}

OrthancWriter::OrthancWriter(const Params& params, const StageContext& context)
    : OrthancWriter(params, context, dicom_results::IsolatedDecoder::installed_program()) {}

OrthancWriter::OrthancWriter(const Params& params, const StageContext& context, std::filesystem::path decoder)
    : context_(context),
      server_(ServerSettings::from(params, context)),
      builder_(dicom_results::ResultSettings::from(params)) {
  try {
    http_ = std::make_unique<HttpClient>(server_.http);
    dicomweb_ = std::make_unique<DicomWebClient>(*http_, server_.dicomweb_root);
    sources_ = std::make_unique<PacsSources>(
        *dicomweb_, server_.http.base_url,
        dicom_results::IsolatedDecoder(std::move(decoder), builder_.settings().window,
                                       builder_.settings().decoder_time_limit));
  } catch (const std::exception& error) {
    throw StageError(error.what());
  }
  try {
    record_ = std::make_unique<DoneRecordWriter>(params.path("record"));
  } catch (const std::exception& error) {
    throw StageError("record", error.what());
  }
  const std::string& checkpoint = builder_.settings().model.checkpoint_sha256;
  for (const auto& other : record_->record().checkpoints())
    if (other != checkpoint)
      throw StageError(
          "record", record_->file().string() + " records results of the checkpoint " + other.substr(0, 12) +
                        "..., this run's is " + checkpoint.substr(0, 12) +
                        "...: a new model writes other objects, so it needs a record of its own");
}

OrthancWriter::~OrthancWriter() = default;

OrthancWriter::Outcome OrthancWriter::send_study(const StudyImages& study) {
  const std::string& study_id = study.study->study_id;
  if (record_->record().contains(study_id)) return Outcome::AlreadyDone;
  const auto& tags = study.images.front()->info.tags;
  if (const auto listed = tags.find(study_images_tag);
      listed != tags.end() && listed->second != std::to_string(study.images.size())) {
    context_.warn(
        "orthanc: study " + study_id + ": " + std::to_string(study.images.size()) + " of " + listed->second +
        " images scored (the others were unreadable); not sent, so that the next run scores it whole");
    return Outcome::Incomplete;
  }
  sources_->next_study();
  const std::vector<DicomObject> objects = builder_.build(study, *sources_);
  std::vector<std::string> encoded;
  std::vector<std::string_view> views;
  for (const auto& object : objects) encoded.push_back(object.bytes());
  for (const auto& bytes : encoded) views.push_back(bytes);
  const std::string study_uid = objects.front().study_instance_uid();
  const StoreResult result = dicomweb_->store(study_uid, views);
  if (!result.failures.empty())
    throw std::runtime_error("the PACS refused " + std::to_string(result.failures.size()) +
                             " of the study's " + std::to_string(objects.size()) +
                             " objects; the first: " + result.failures.front());
  if (result.stored.size() != objects.size())
    throw std::runtime_error("the PACS confirmed " + std::to_string(result.stored.size()) +
                             " of the study's " + std::to_string(objects.size()) + " objects");
  const bool has_report = builder_.settings().report;
  record_->add(DoneStudy{study_id, builder_.settings().model.checkpoint_sha256, server_.http.base_url,
                         has_report ? objects.front().sop_instance_uid() : "", objects.size()});
  context_.debug("orthanc: study " + study_uid + ": " + std::to_string(objects.size()) + " objects stored");
  return Outcome::Sent;
}

std::string OrthancWriter::summary() const {
  return std::to_string(sent_) + " of " + std::to_string(studies_) + " studies sent to " + server_.http.base_url + ", " +
         std::to_string(already_) + " already done, " + std::to_string(incomplete_) +
         " incomplete (left for the next run), " + std::to_string(failed_) + " failed";
}

void OrthancWriter::open(const WriterRun& /*run*/) {
  studies_ = sent_ = already_ = incomplete_ = failed_ = 0;
  first_failure_.clear();
  closed_ = false;
  // The host opens writers before it scores anything: a PACS that does not answer stops the run
  // before any work, instead of after every image was scored for nothing.
  try {
    (void)http_->get(server_.dicomweb_root + "/studies?limit=1", "application/dicom+json");
  } catch (const HttpError& error) {
    if (error.no_answer() || error.kind() == HttpError::Kind::Refused)
      throw StageError("the PACS stopped the run: " + std::string(error.what()) +
                       ". Nothing was scored or sent; the next run sends every study not in the record " +
                       record_->file().string());
    throw StageError("the PACS refused a first query (" + std::string(error.what()) + "): check url and credentials");
  }
}

void OrthancWriter::write_study(const StudyPrediction& prediction) {
  const std::vector<ImagePrediction> images = open_studies_.take(prediction.study_id);
  if (images.empty()) return;
  ++studies_;
  // A failure of this study alone: counted, and the next run tries it again.
  const auto study_failed = [&](const std::string& what) {
    if (failed_++ == 0) first_failure_ = "study " + prediction.study_id + ": " + what;
    context_.warn("orthanc: study " + prediction.study_id + ": " + what);
  };
  try {
    switch (send_study(dicom_results::study_images(prediction, images))) {
      case Outcome::Sent:
        ++sent_;
        break;
      case Outcome::AlreadyDone:
        ++already_;
        break;
      case Outcome::Incomplete:
        ++incomplete_;
        break;
    }
  } catch (const HttpError& error) {
    if (error.no_answer() || error.kind() == HttpError::Kind::Refused)
      // The PACS is down, or refuses us: every other study would fail the same way.
      throw StageError("the PACS stopped the run: " + std::string(error.what()) + ". " + summary() +
                       "; the studies not sent are not in the record " + record_->file().string() +
                       ", so the next run sends them");
    study_failed(error.what());
  } catch (const StageError&) {
    throw;
  } catch (const std::exception& error) {
    study_failed(error.what());
  }
}

void OrthancWriter::close() {
  if (closed_) return; // the host closes again after a failure
  closed_ = true;
  context_.info("orthanc: " + summary());
  if (failed_ > 0)
    throw StageError(summary() + "; the first failure: " + first_failure_ +
                     "; failed studies are not recorded, so the next run tries them again");
}

} // namespace radpipe::orthanc
