#include "orthanc_reader.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <radpipe/error.hpp>

#include "done_record.hpp"
#include "result_builder.hpp"

namespace radpipe::orthanc {
namespace {

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool is_dicom_date(const std::string& text) {
  return text.size() == 8 &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::string date_days_ago(std::int64_t days) {
  std::time_t moment = std::time(nullptr) - static_cast<std::time_t>(days) * 24 * 60 * 60;
  std::tm local{};
  ::localtime_r(&moment, &local);
  char text[16];
  std::strftime(text, sizeof text, "%Y%m%d", &local);
  return text;
}

std::set<std::string> upper_set(const std::vector<std::string>& values) {
  std::set<std::string> result;
  for (const auto& value : values) result.insert(upper(value));
  return result;
}

// The error a failed request becomes, for the sample and the log.
std::string describe(const std::exception& error) {
  if (const auto* http = dynamic_cast<const HttpError*>(&error); http != nullptr && http->no_answer())
    return std::string("the PACS is unreachable: ") + error.what();
  return error.what();
}

} // namespace

Schema OrthancReader::schema() {
  Schema schema{
      ParamSpec::string("study_date_from", "First study date (YYYYMMDD) of the studies to score").optional(),
      ParamSpec::string("study_date_to", "Last study date (YYYYMMDD) of the studies to score").optional(),
      ParamSpec::integer(
          "days_back",
          "Score the studies of today and the N days before it (a nightly run); instead of the dates")
          .optional()
          .in_range(0, 36500),
      ParamSpec::strings("modalities", "Modalities of the series to score (empty: any)")
          .with_default(std::vector<std::string>{"CR", "DX"}),
      ParamSpec::strings("body_parts",
                         "BodyPartExamined of the series to score, e.g. [\"HAND\", \"WRIST\"] (empty: any)")
          .with_default(std::vector<std::string>{}),
      ParamSpec::strings(
          "sop_classes",
          "SOP classes of the instances to score: CR and DX images by default, so that reports and "
          "the results radpipe stored are never scored")
          .with_default(std::vector<std::string>{"1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1",
                                                 "1.2.840.10008.5.1.4.1.1.1.1.1"})
          .items(1, 64),
      ParamSpec::path("record",
                      "The done-record the orthanc writer keeps; the studies it lists are not scored again")
          .optional(),
      ParamSpec::integer("max_studies", "Score at most this many studies, oldest first (0: all)")
          .with_default(0)
          .in_range(0, 100000000),
      ParamSpec::string("window", "Intensities mapped onto the full scale, as the dicom reader's window")
          .with_default("tags")
          .one_of({"tags", "full", "percentile"}),
      ParamSpec::string("body_part", "Body part for images whose BodyPartExamined is empty (lower-cased)")
          .optional(),
      ParamSpec::real("decoder_timeout_s",
                      "Time limit for decoding one image; past it the image is unreadable")
          .with_default(120.0)
          .in_range(1.0, 3600.0),
  };
  for (auto& spec : ServerSettings::schema_specs()) schema.add(std::move(spec));
  return schema;
}

OrthancReader::OrthancReader(const Params& params, const StageContext& context)
    : OrthancReader(params, context, dicom_results::IsolatedDecoder::installed_program()) {}

namespace {

dicom_results::IsolatedDecoder make_decoder(std::filesystem::path program, const Params& params) {
  try {
    return dicom_results::IsolatedDecoder(
        std::move(program), params.string("window"),
        std::chrono::milliseconds(static_cast<long>(params.real("decoder_timeout_s") * 1000.0)));
  } catch (const dicom_results::DecodeFailure& failure) {
    throw StageError(failure.what());
  }
}

} // namespace

OrthancReader::OrthancReader(const Params& params, const StageContext& context, std::filesystem::path decoder)
    : context_(context),
      server_(ServerSettings::from(params, context)),
      decoder_(make_decoder(std::move(decoder), params)) {
  StudyQuery query;
  if (params.has("days_back")) {
    if (params.has("study_date_from") || params.has("study_date_to"))
      throw StageError("days_back", "give either days_back or study_date_from/study_date_to, not both");
    query.date_from = date_days_ago(params.integer("days_back"));
  }
  for (const auto& [key, field] :
       {std::pair{"study_date_from", &query.date_from}, std::pair{"study_date_to", &query.date_to}}) {
    if (!params.has(key)) continue;
    *field = params.string(key);
    if (!is_dicom_date(*field)) throw StageError(key, "\"" + *field + "\" is not a date written YYYYMMDD");
  }
  if (!query.date_from.empty() && !query.date_to.empty() && query.date_from > query.date_to)
    throw StageError("study_date_to",
                     "the last date " + query.date_to + " is before the first " + query.date_from);
  modalities_ = upper_set(params.strings("modalities"));
  body_parts_ = upper_set(params.strings("body_parts"));
  query.modalities.assign(modalities_.begin(), modalities_.end());
  query.body_parts.assign(body_parts_.begin(), body_parts_.end());
  for (const auto& uid : params.strings("sop_classes")) sop_classes_.insert(uid);
  if (params.has("body_part")) fallback_body_part_ = lower(params.string("body_part"));

  try {
    http_ = std::make_unique<HttpClient>(server_.http);
    dicomweb_ = std::make_unique<DicomWebClient>(*http_, server_.dicomweb_root);
  } catch (const std::exception& error) {
    throw StageError("url", error.what());
  }
  std::vector<FoundStudy> found;
  try {
    found = dicomweb_->find_studies(query);
  } catch (const std::exception& error) {
    throw StageError("cannot list the studies to score: " + describe(error));
  }
  DoneRecord record;
  if (params.has("record")) {
    try {
      record = DoneRecord::read(params.path("record"));
    } catch (const std::exception& error) {
      throw StageError("record", error.what());
    }
  }
  const auto max_studies = static_cast<std::size_t>(params.integer("max_studies"));
  std::size_t done = 0;
  for (auto& study : found) {
    if (record.contains(study.study_uid)) {
      ++done;
    } else if (max_studies == 0 || studies_.size() < max_studies) {
      studies_.push_back(std::move(study));
    }
  }
  context_.info("orthanc: " + std::to_string(found.size()) + " studies at " + server_.http.base_url +
                " match, " + std::to_string(done) + " of them already done, " +
                std::to_string(studies_.size()) + " to score");
}

void OrthancReader::list_next_study() {
  const FoundStudy& study = studies_[next_study_++];
  std::vector<FoundInstance> instances;
  try {
    instances = dicomweb_->study_instances(study.study_uid);
  } catch (const std::exception& error) {
    // One unreadable sample stands for the study, so that the run counts and reports it, and no
    // result of the study is sent (its images never reach the writer).
    SampleInfo info;
    info.id = study.study_uid + "/(instances)";
    info.path = server_.http.base_url + server_.dicomweb_root + "/studies/" + study.study_uid;
    info.study_id = study.study_uid;
    info.tags["orthanc_listing_error"] = "cannot list the study's instances: " + describe(error);
    info.index = index_++;
    pending_.push_back(std::move(info));
    return;
  }
  std::vector<const FoundInstance*> chosen;
  for (const auto& instance : instances) {
    if (!sop_classes_.count(instance.sop_class_uid)) continue;
    if (!modalities_.empty() && !modalities_.count(upper(instance.modality))) continue;
    if (!body_parts_.empty() && !instance.body_part.empty() && !body_parts_.count(upper(instance.body_part)))
      continue;
    chosen.push_back(&instance);
  }
  for (const FoundInstance* instance : chosen) {
    SampleInfo info;
    info.id = instance->sop_uid;
    info.path = dicomweb_->instance_url(*instance);
    info.patient_id = instance->patient_id.empty() ? study.patient_id : instance->patient_id;
    info.study_id = study.study_uid;
    info.body_part = instance->body_part.empty() ? fallback_body_part_ : lower(instance->body_part);
    info.tags["StudyInstanceUID"] = instance->study_uid;
    info.tags["SeriesInstanceUID"] = instance->series_uid;
    info.tags["SOPInstanceUID"] = instance->sop_uid;
    info.tags["SOPClassUID"] = instance->sop_class_uid;
    info.tags["Modality"] = instance->modality;
    info.tags[study_images_tag] = std::to_string(chosen.size());
    info.index = index_++;
    pending_.push_back(std::move(info));
  }
  if (chosen.empty())
    context_.info("orthanc: study " + study.study_uid + " has no image to score (" +
                  std::to_string(instances.size()) +
                  " instances, none a radiograph of the chosen modalities and body parts)");
}

std::optional<SampleInfo> OrthancReader::next() {
  while (pending_.empty() && next_study_ < studies_.size()) list_next_study();
  if (pending_.empty()) return std::nullopt;
  SampleInfo info = std::move(pending_.front());
  pending_.pop_front();
  return info;
}

Sample OrthancReader::load(const SampleInfo& info) const {
  if (const auto listing = info.tags.find("orthanc_listing_error"); listing != info.tags.end())
    throw SampleError(info.path, "study " + info.study_id + ": " + listing->second);
  std::string bytes;
  try {
    bytes = dicomweb_->fetch_instance(info.path);
  } catch (const std::exception& error) {
    throw SampleError(info.path, "cannot fetch " + info.path + ": " + describe(error));
  }
  dicom::DecodedDicom decoded;
  try {
    decoded = decoder_.decode_bytes(bytes);
  } catch (const dicom_results::DecodeFailure& failure) {
    throw SampleError(info.path, "cannot decode " + info.path + ": " + failure.what());
  }
  Sample sample;
  sample.info = info;
  dicom::DicomHeader& header = decoded.header;
  if (!header.patient_id.empty()) sample.info.patient_id = std::move(header.patient_id);
  if (!header.body_part.empty()) sample.info.body_part = std::move(header.body_part);
  sample.info.view = std::move(header.view);
  sample.info.pixel_spacing_mm = header.pixel_spacing_mm;
  for (auto& [name, value] : header.tags) sample.info.tags.try_emplace(name, std::move(value));
  sample.image = dicom_results::to_mat(std::move(decoded));
  return sample;
}

} // namespace radpipe::orthanc
