// multipart/related bodies (RFC 2387) as DICOMweb uses them: WADO-RS answers hold one DICOM
// object per part, STOW-RS requests send one per part.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace radpipe::orthanc {

// A parameter of a Content-Type header ("boundary" of `multipart/related; boundary="x"`).
std::optional<std::string> content_type_parameter(std::string_view content_type, std::string_view name);

// The parts' bodies (their headers dropped), views into `body`. Throws std::runtime_error when
// the content type has no boundary or the body is not a complete multipart body.
std::vector<std::string_view> multipart_parts(std::string_view body, std::string_view content_type);

struct MultipartBody {
  std::string content_type; // multipart/related; type="..."; boundary=...
  std::string body;
};

// `parts` as one multipart/related body of `part_type` parts, under a boundary that none of the
// parts contains.
MultipartBody make_multipart(const std::vector<std::string_view>& parts, const std::string& part_type);

} // namespace radpipe::orthanc
