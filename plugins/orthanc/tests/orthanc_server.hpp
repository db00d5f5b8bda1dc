// A real Orthanc for the tests: started from Debian's /usr/sbin/Orthanc on a free loopback port,
// with its DICOMweb plugin, basic authentication, a storage folder and configuration of its own
// under the test's temporary folder. Nothing listens beyond 127.0.0.1.
//
// https comes from nginx in front of it, as the Orthanc Book advises for production: Orthanc's own
// "SslEnabled" crashes on Debian bookworm (1.10.1 with civetweb 1.15 and OpenSSL 3: a segfault in
// libcivetweb on the first TLS connection).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "http_client.hpp"

namespace radpipe::orthanc::testing {

struct OrthancOptions {
  std::string user = "radpipe";
  std::string password = "n1ghtly-S3cret";
};

class OrthancServer {
 public:
  // Starts Orthanc with its files under `folder`, and waits until it answers.
  explicit OrthancServer(std::filesystem::path folder, OrthancOptions options = {});
  ~OrthancServer();
  OrthancServer(const OrthancServer&) = delete;
  OrthancServer& operator=(const OrthancServer&) = delete;

  // Kills it, as a crash would; start() runs it again on the same port and storage.
  void stop();
  void start();

  std::string url() const; // http://127.0.0.1:PORT
  int port() const { return port_; }
  // What a client needs to reach it as the test's user.
  HttpOptions client_options() const;
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
  std::filesystem::path ca;                 // the CA certificate (PEM), to trust
  std::filesystem::path server_certificate; // the server's certificate (PEM), signed by `ca`
  std::filesystem::path server_key;
  std::filesystem::path other_ca; // a CA that signed nothing of the server's
};
TestCertificates make_test_certificates(const std::filesystem::path& folder);

// nginx terminating TLS on a free loopback port and passing requests on to a local HTTP port.
class TlsProxy {
 public:
  TlsProxy(std::filesystem::path folder, const TestCertificates& certificates, int target_port);
  ~TlsProxy();
  TlsProxy(const TlsProxy&) = delete;
  TlsProxy& operator=(const TlsProxy&) = delete;
  std::string url() const; // https://127.0.0.1:PORT

 private:
  std::filesystem::path folder_;
  int port_ = 0;
  pid_t pid_ = -1;
};

} // namespace radpipe::orthanc::testing
