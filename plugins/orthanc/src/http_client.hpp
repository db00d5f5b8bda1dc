// HTTP(S) requests to one server with libcurl: basic authentication, certificate verification on
// unless switched off, time limits, and errors that say what failed without ever showing the
// password. Thread-safe: each request has its own handle; connections and TLS sessions are shared.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace radpipe::orthanc {

struct HttpOptions {
  std::string base_url; // scheme, host, port and path prefix, without a trailing slash
  std::string user;     // empty: no authentication
  std::string password;
  std::filesystem::path ca_file; // PEM bundle of trusted CAs; empty: the system's
  bool verify_tls = true;
  std::chrono::milliseconds timeout{60000};
  std::chrono::milliseconds connect_timeout{10000};
};

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string body;
};

class HttpError : public std::runtime_error {
 public:
  enum class Kind {
    Unreachable, // no connection: refused, no route, DNS, timed out connecting
    Tls,         // the TLS handshake failed: an untrusted or mismatched certificate
    Transfer,    // the connection broke or timed out mid-way
    Refused,     // the server answered 401 or 403
    Status,      // any other non-2xx answer
  };
  HttpError(Kind kind, long status, const std::string& message)
      : std::runtime_error(message), kind_(kind), status_(status) {}
  Kind kind() const { return kind_; }
  long status() const { return status_; }
  // No answer at all (Unreachable, Tls or Transfer): the server or the network is down.
  bool no_answer() const {
    return kind_ == Kind::Unreachable || kind_ == Kind::Tls || kind_ == Kind::Transfer;
  }

 private:
  Kind kind_;
  long status_;
};

class HttpClient {
 public:
  // Throws std::invalid_argument for a URL that is not http(s) or that holds credentials.
  explicit HttpClient(HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  const std::string& base_url() const { return options_.base_url; }

  // `target`: a path below the base URL ("/dicom-web/studies?..."), or a whole URL that starts
  // with the base URL. Throws HttpError; a 2xx answer is returned.
  HttpResponse get(const std::string& target, const std::string& accept) const;
  HttpResponse post(const std::string& target, const std::string& content_type, std::string_view body,
                    const std::string& accept) const;

  // `text` percent-encoded for a query string.
  static std::string escape(std::string_view text);

 private:
  struct Shared;
  HttpResponse perform(const std::string& target, const std::string* content_type, std::string_view body,
                       const std::string& accept) const;
  HttpOptions options_;
  std::unique_ptr<Shared> shared_;
};

// The URL without a trailing slash, checked: http or https, a host, no user:password@ part.
// Throws std::invalid_argument saying what is wrong.
std::string checked_base_url(std::string url);
// True for http URLs whose host is a loopback address or "localhost".
bool is_loopback_http(const std::string& url);

} // namespace radpipe::orthanc
