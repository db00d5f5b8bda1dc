// Reader stage `orthanc`: radiographs from a PACS over DICOMweb. It asks QIDO-RS for the studies of
// a date range (or of the last N days) with a series of the given modalities and body parts, skips
// the studies the done-record lists, lists each study's radiographs when it reaches the study,
// and fetches each instance with WADO-RS into memory, where the dicom plugin's decoder process
// reads it (through a memory file, never the disk), so that a malformed image costs one sample.
//
// Each image carries the number of images listed for its study (tag `orthanc_study_images`), so
// that the orthanc writer sends a study's results only when every image of it was scored.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <set>
#include <string>
#include <vector>

#include "dicomweb_client.hpp"
#include "isolated_decoder.hpp"
#include "server_settings.hpp"

namespace radpipe::orthanc {

// The tag that carries how many images of the study the reader lists.
inline constexpr const char* study_images_tag = "orthanc_study_images";

class OrthancReader final : public Reader {
 public:
  OrthancReader(const Params& params, const StageContext& context);
  OrthancReader(const Params& params, const StageContext& context, std::filesystem::path decoder);
  static Schema schema();

  std::optional<SampleInfo> next() override;
  Sample load(const SampleInfo& info) const override;

  // The studies this run will score (after the done-record), oldest first.
  const std::vector<FoundStudy>& studies() const { return studies_; }

 private:
  void list_next_study();

  StageContext context_;
  ServerSettings server_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<DicomWebClient> dicomweb_;
  dicom_results::IsolatedDecoder decoder_;
  std::set<std::string> sop_classes_;
  std::set<std::string> modalities_;
  std::set<std::string> body_parts_;
  std::string fallback_body_part_;
  std::vector<FoundStudy> studies_;
  std::size_t next_study_ = 0;
  std::deque<SampleInfo> pending_;
  std::uint64_t index_ = 0;
};

} // namespace radpipe::orthanc
