#include "dicomweb_client.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <tuple>

#include "multipart.hpp"

namespace radpipe::orthanc {
namespace {

constexpr std::size_t page_size = 500;
const std::string dicom_json = "application/dicom+json";

std::string date_range(const StudyQuery& query) {
  if (query.date_from.empty() && query.date_to.empty()) return "";
  return query.date_from + "-" + query.date_to;
}

int number_of(const nlohmann::json& object, const std::string& tag) {
  const std::string text = json_text(object, tag);
  try {
    return text.empty() ? 0 : std::stoi(text);
  } catch (const std::exception&) {
    return 0;
  }
}

} // namespace

std::string json_text(const nlohmann::json& object, const std::string& tag) {
  const auto attribute = object.find(tag);
  if (attribute == object.end() || !attribute->is_object()) return "";
  const auto values = attribute->find("Value");
  if (values == attribute->end() || !values->is_array() || values->empty()) return "";
  const nlohmann::json& value = values->front();
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<long long>());
  if (value.is_number()) return value.dump();
  if (value.is_object() && value.contains("Alphabetic") && value["Alphabetic"].is_string())
    return value["Alphabetic"].get<std::string>();
  return "";
}

DicomWebClient::DicomWebClient(const HttpClient& http, std::string root)
    : http_(http), root_(std::move(root)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
  if (!root_.empty() && root_.front() != '/') root_.insert(root_.begin(), '/');
}

std::vector<nlohmann::json> DicomWebClient::query(const std::string& target) const {
  std::vector<nlohmann::json> results;
  const char separator = target.find('?') == std::string::npos ? '?' : '&';
  for (std::size_t offset = 0;; offset += page_size) {
    const HttpResponse response = http_.get(
        target + separator + "limit=" + std::to_string(page_size) + "&offset=" + std::to_string(offset),
        dicom_json);
    nlohmann::json page;
    try {
      page = response.body.empty() ? nlohmann::json::array() : nlohmann::json::parse(response.body);
    } catch (const nlohmann::json::exception& error) {
      throw std::runtime_error("the PACS answered " + target +
                               " with something that is not JSON: " + error.what());
    }
    if (!page.is_array())
      throw std::runtime_error("the PACS answered " + target + " with JSON that is not a list");
    for (auto& item : page) results.push_back(std::move(item));
    if (page.size() < page_size) return results;
  }
}

std::vector<FoundStudy> DicomWebClient::find_studies(const StudyQuery& query) const {
  const std::vector<std::string> any{""};
  const auto& modalities = query.modalities.empty() ? any : query.modalities;
  const auto& body_parts = query.body_parts.empty() ? any : query.body_parts;
  std::map<std::string, FoundStudy> studies;
  for (const auto& modality : modalities) {
    for (const auto& body_part : body_parts) {
      std::string target = root_ + "/series?includefield=00100020";
      if (const std::string dates = date_range(query); !dates.empty())
        target += "&StudyDate=" + HttpClient::escape(dates);
      if (!modality.empty()) target += "&Modality=" + HttpClient::escape(modality);
      if (!body_part.empty()) target += "&BodyPartExamined=" + HttpClient::escape(body_part);
      for (const auto& series : this->query(target)) {
        FoundStudy study{json_text(series, "0020000D"), json_text(series, "00080020"),
                         json_text(series, "00100020")};
        if (!study.study_uid.empty()) studies.try_emplace(study.study_uid, std::move(study));
      }
    }
  }
  std::vector<FoundStudy> sorted;
  for (auto& [uid, study] : studies) sorted.push_back(std::move(study));
  std::sort(sorted.begin(), sorted.end(), [](const FoundStudy& left, const FoundStudy& right) {
    return std::tie(left.study_date, left.study_uid) < std::tie(right.study_date, right.study_uid);
  });
  return sorted;
}

std::vector<FoundInstance> DicomWebClient::study_instances(const std::string& study_uid) const {
  std::vector<FoundInstance> instances;
  for (const auto& item :
       query(root_ + "/studies/" + study_uid + "/instances?includefield=00180015&includefield=00100020")) {
    FoundInstance instance;
    instance.study_uid = study_uid;
    instance.series_uid = json_text(item, "0020000E");
    instance.sop_uid = json_text(item, "00080018");
    instance.sop_class_uid = json_text(item, "00080016");
    instance.modality = json_text(item, "00080060");
    instance.body_part = json_text(item, "00180015");
    instance.patient_id = json_text(item, "00100020");
    instance.series_number = number_of(item, "00200011");
    instance.instance_number = number_of(item, "00200013");
    if (!instance.series_uid.empty() && !instance.sop_uid.empty()) instances.push_back(std::move(instance));
  }
  std::sort(instances.begin(), instances.end(), [](const FoundInstance& left, const FoundInstance& right) {
    return std::tie(left.series_number, left.series_uid, left.instance_number, left.sop_uid) <
           std::tie(right.series_number, right.series_uid, right.instance_number, right.sop_uid);
  });
  return instances;
}

std::string DicomWebClient::instance_url(const std::string& study_uid, const std::string& series_uid,
                                         const std::string& sop_uid) const {
  return http_.base_url() + root_ + "/studies/" + study_uid + "/series/" + series_uid + "/instances/" +
         sop_uid;
}

std::string DicomWebClient::instance_url(const FoundInstance& instance) const {
  return instance_url(instance.study_uid, instance.series_uid, instance.sop_uid);
}

std::string DicomWebClient::fetch_instance(const std::string& url) const {
  HttpResponse response = http_.get(url, "multipart/related; type=\"application/dicom\"; transfer-syntax=*");
  const auto parts = multipart_parts(response.body, response.content_type);
  if (parts.size() != 1)
    throw std::runtime_error("the PACS sent " + std::to_string(parts.size()) + " objects for the instance " +
                             url);
  return std::string(parts.front());
}

StoreResult DicomWebClient::store(const std::string& study_uid,
                                  const std::vector<std::string_view>& objects) const {
  const MultipartBody request = make_multipart(objects, "application/dicom");
  const HttpResponse response =
      http_.post(root_ + "/studies/" + study_uid, request.content_type, request.body, dicom_json);
  StoreResult result;
  nlohmann::json answer;
  try {
    answer = nlohmann::json::parse(response.body);
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error("the PACS answered the store with something that is not JSON: " +
                             std::string(error.what()));
  }
  const auto sequence = [&](const char* tag) {
    const auto attribute = answer.find(tag);
    if (attribute == answer.end() || !attribute->contains("Value")) return nlohmann::json::array();
    return (*attribute)["Value"];
  };
  for (const auto& item : sequence("00081199")) result.stored.push_back(json_text(item, "00081155"));
  for (const auto& item : sequence("00081198"))
    result.failures.push_back(json_text(item, "00081155") + ": failure reason " +
                              json_text(item, "00081197"));
  return result;
}

} // namespace radpipe::orthanc
