// A real Orthanc for the tests: started from Debian's /usr/sbin/Orthanc on a free loopback port,
// with its DICOMweb plugin, basic authentication, a storage folder and configuration of its own
// under the test's temporary folder, and optionally https with a certificate the test made.
// Nothing listens beyond 127.0.0.1.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace radpipe::orthanc::testing {

struct OrthancOptions {
  std::string user = "radpipe";
  std::string password = "n1ghtly-S3cret";
  std::filesystem::path tls_certificate; // PEM holding the key and the certificate; empty: plain http
  std::filesystem::path tls_ca;          // the CA the test's own requests trust, with tls_certificate
};

class OrthancServer {
 public:
  // Starts Orthanc with its files under `folder`, and waits until it answers.
  explicit OrthancServer(std::filesystem::path folder, OrthancOptions options = {});
  ~OrthancServer();
  OrthancServer(const OrthancServer&) = delete;
  OrthancServer& operator=(const OrthancServer&) = delete;

  // Stops it (SIGTERM, then waits); start() runs it again on the same port and storage.
  void stop();
  void start();

  std::string url() const; // http(s)://127.0.0.1:PORT
  const OrthancOptions& options() const { return options_; }

  // Orthanc's own REST API, as an operator uses it: upload a file, look around.
  void upload(const std::filesystem::path& file) const;
  nlohmann::json get(const std::string& path) const;
  // The number of instances Orthanc holds.
  std::size_t instance_count() const;

 private:
  std::filesystem::path folder_;
  OrthancOptions options_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl command.
struct TestCertificates {
  std::filesystem::path ca;          // the CA certificate (PEM), to trust
  std::filesystem::path server_pem;  // the server's key and certificate, for Orthanc
  std::filesystem::path other_ca;    // a CA that signed nothing of the server's
};
TestCertificates make_test_certificates(const std::filesystem::path& folder);

} // namespace radpipe::orthanc::testing
