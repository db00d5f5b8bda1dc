#include "server_settings.hpp"

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <radpipe/error.hpp>
#include <sstream>

namespace radpipe::orthanc {
namespace {

std::string environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  return value != nullptr ? value : "";
}

std::chrono::milliseconds seconds(double value) {
  return std::chrono::milliseconds(static_cast<long>(std::lround(value * 1000.0)));
}

std::string read_password_file(const std::filesystem::path& file, const StageContext& context) {
  struct stat status {};
  if (::stat(file.c_str(), &status) != 0) throw StageError("password_file", "cannot read " + file.string());
  if ((status.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    context.warn("orthanc: " + file.string() + " can be read by others than its owner; chmod 600 it");
  std::ifstream in(file);
  std::stringstream content;
  content << in.rdbuf();
  if (!in && !in.eof()) throw StageError("password_file", "cannot read " + file.string());
  std::string password = content.str();
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  if (password.empty()) throw StageError("password_file", file.string() + " is empty");
  return password;
}

} // namespace

std::vector<ParamSpec> ServerSettings::schema_specs() {
  return {
      ParamSpec::string(
          "url", "The PACS's base URL (https://pacs.example.org:8042); when left out, RADPIPE_ORTHANC_URL")
          .optional(),
      ParamSpec::string("dicomweb_root", "Path of the DICOMweb services below the URL")
          .with_default("/dicom-web"),
      ParamSpec::string("user",
                        "User for HTTP basic authentication; when left out, RADPIPE_ORTHANC_USER (none: "
                        "no authentication)")
          .optional(),
      ParamSpec::string("password_env", "Environment variable that holds the password")
          .with_default("RADPIPE_ORTHANC_PASSWORD"),
      ParamSpec::path("password_file",
                      "File that holds the password (readable by its owner only); wins over password_env")
          .optional(),
      ParamSpec::path("ca_file", "PEM file of the CA certificates to trust for https (default: the system's)")
          .optional()
          .existing(),
      ParamSpec::boolean(
          "tls_verify",
          "Verify the server's certificate and name; switching it off lets anyone in the middle "
          "read the password and the images")
          .with_default(true),
      ParamSpec::boolean(
          "allow_plain_http",
          "Allow http:// to a host other than this machine (credentials and images unencrypted)")
          .with_default(false),
      ParamSpec::real("timeout_s",
                      "Time limit of one request (a whole instance fetched or a study's results sent)")
          .with_default(120.0)
          .in_range(1.0, 3600.0),
      ParamSpec::real("connect_timeout_s", "Time limit for connecting to the server")
          .with_default(10.0)
          .in_range(0.1, 600.0),
  };
}

ServerSettings ServerSettings::from(const Params& params, const StageContext& context) {
  ServerSettings settings;
  std::string url = params.has("url") ? params.string("url") : environment("RADPIPE_ORTHANC_URL");
  if (url.empty()) throw StageError("url", "no server: set url, or RADPIPE_ORTHANC_URL in the environment");
  try {
    settings.http.base_url = checked_base_url(url);
  } catch (const std::invalid_argument& error) {
    throw StageError("url", error.what());
  }
  settings.http.user = params.has("user") ? params.string("user") : environment("RADPIPE_ORTHANC_USER");
  if (params.has("password_file")) {
    settings.http.password = read_password_file(params.path("password_file"), context);
  } else {
    settings.http.password = environment(params.string("password_env"));
  }
  if (!settings.http.password.empty() && settings.http.user.empty())
    throw StageError("user", "a password is given but no user; set user or RADPIPE_ORTHANC_USER");
  if (settings.http.base_url.starts_with("http://") && !is_loopback_http(settings.http.base_url) &&
      !params.boolean("allow_plain_http"))
    throw StageError("url",
                     settings.http.base_url +
                         " is plain http to another machine: credentials and images would cross the network "
                         "unencrypted; use https, or set allow_plain_http = true on a network you trust");
  if (params.has("ca_file")) settings.http.ca_file = params.path("ca_file");
  settings.http.verify_tls = params.boolean("tls_verify");
  if (!settings.http.verify_tls)
    context.warn("orthanc: tls_verify = false: the server's certificate is not checked");
  settings.http.timeout = seconds(params.real("timeout_s"));
  settings.http.connect_timeout = seconds(params.real("connect_timeout_s"));
  settings.dicomweb_root = params.string("dicomweb_root");
  return settings;
}

} // namespace radpipe::orthanc
