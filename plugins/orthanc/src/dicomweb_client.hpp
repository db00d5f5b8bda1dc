// The DICOMweb services of a PACS (Orthanc's DICOMweb plugin, or any QIDO/WADO/STOW server):
// finding studies, listing and fetching their instances, storing result objects into a study.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http_client.hpp"

namespace radpipe::orthanc {

struct StudyQuery {
  std::string date_from, date_to;      // YYYYMMDD; empty: open
  std::vector<std::string> modalities; // of a series in the study; empty: any
  std::vector<std::string> body_parts; // BodyPartExamined of a series; empty: any
};

struct FoundStudy {
  std::string study_uid;
  std::string study_date;
  std::string patient_id;
};

struct FoundInstance {
  std::string study_uid, series_uid, sop_uid, sop_class_uid;
  std::string modality, body_part, patient_id;
  int series_number = 0, instance_number = 0;
};

struct StoreResult {
  std::vector<std::string> stored;   // SOP Instance UIDs the server accepted
  std::vector<std::string> failures; // "UID: reason" of those it refused
};

class DicomWebClient {
 public:
  // `root`: the DICOMweb path below the server's base URL ("/dicom-web" on Orthanc).
  DicomWebClient(const HttpClient& http, std::string root);

  // Studies with a series matching the query, each once, oldest first (then by UID). A series
  // query per modality and body part pair, paged. Throws HttpError.
  std::vector<FoundStudy> find_studies(const StudyQuery& query) const;
  // Every instance of the study, by series number, series UID, instance number, SOP UID.
  std::vector<FoundInstance> study_instances(const std::string& study_uid) const;

  // The WADO-RS URL of an instance (no credentials in it).
  std::string instance_url(const FoundInstance& instance) const;
  std::string instance_url(const std::string& study_uid, const std::string& series_uid,
                           const std::string& sop_uid) const;
  // The instance's Part 10 bytes, in memory, in the transfer syntax it is stored in.
  std::string fetch_instance(const std::string& url) const;

  // STOW-RS of `objects` (Part 10 files) into `study_uid`. Throws HttpError when the request
  // fails as a whole; per-object refusals are in the result.
  StoreResult store(const std::string& study_uid, const std::vector<std::string_view>& objects) const;

 private:
  std::vector<nlohmann::json> query(const std::string& target) const;
  const HttpClient& http_;
  std::string root_;
};

// The first value of a DICOM JSON attribute ("0020000D") as text: strings as they are, numbers
// written out, person names by their alphabetic form; empty when absent.
std::string json_text(const nlohmann::json& object, const std::string& tag);

} // namespace radpipe::orthanc
