// The PACS connection both orthanc stages take: URL, credentials, TLS. The password is never a
// pipeline value: it comes from an environment variable or a file only the operator can read,
// so that neither pipeline files nor run records nor logs ever hold it.
#pragma once

#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <vector>

#include "http_client.hpp"

namespace radpipe::orthanc {

struct ServerSettings {
  HttpOptions http;
  std::string dicomweb_root = "/dicom-web";

  static std::vector<ParamSpec> schema_specs();
  // Reads the parameters, then the environment (RADPIPE_ORTHANC_URL, RADPIPE_ORTHANC_USER and the
  // variable `password_env` names) for what they leave out. Throws StageError naming the key.
  static ServerSettings from(const Params& params, const StageContext& context);
};

} // namespace radpipe::orthanc
