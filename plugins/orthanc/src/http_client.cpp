#include "http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>

namespace radpipe::orthanc {
namespace {

void initialise_curl() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("libcurl cannot initialise");
  });
}

struct EasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* sink) {
  static_cast<std::string*>(sink)->append(data, size * count);
  return size * count;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string host_of(const std::string& url) {
  const auto start = url.find("://") + 3;
  std::string authority = url.substr(start, url.find('/', start) - start);
  if (authority.starts_with('[')) return lower(authority.substr(1, authority.find(']') - 1));
  return lower(authority.substr(0, authority.find(':')));
}

// The first bytes of an error page, on one line, for a message.
std::string excerpt(const std::string& body) {
  std::string text = body.substr(0, 200);
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  return text;
}

} // namespace

std::string checked_base_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  const std::string scheme = lower(url.substr(0, url.find("://")));
  if (url.find("://") == std::string::npos || (scheme != "http" && scheme != "https"))
    throw std::invalid_argument("\"" + url + "\" is not an http:// or https:// URL");
  const auto start = url.find("://") + 3;
  const std::string authority = url.substr(start, url.find('/', start) - start);
  if (authority.find('@') != std::string::npos)
    throw std::invalid_argument(
        "the URL holds credentials (user:password@); give the user and the password "
        "apart, so that they never show in logs");
  if (authority.empty() || authority.starts_with(':'))
    throw std::invalid_argument("\"" + url + "\" names no host");
  return url;
}

bool is_loopback_http(const std::string& url) {
  if (!lower(url).starts_with("http://")) return false;
  const std::string host = host_of(url);
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

struct HttpClient::Shared {
  CURLSH* handle = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;

  Shared() {
    handle = curl_share_init();
    if (handle == nullptr) throw std::runtime_error("libcurl cannot make a share handle");
    curl_share_setopt(handle, CURLSHOPT_LOCKFUNC, &Shared::lock);
    curl_share_setopt(handle, CURLSHOPT_UNLOCKFUNC, &Shared::unlock);
    curl_share_setopt(handle, CURLSHOPT_USERDATA, this);
    curl_share_setopt(handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  }
  ~Shared() { curl_share_cleanup(handle); }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<Shared*>(self)->locks[static_cast<std::size_t>(data)].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<Shared*>(self)->locks[static_cast<std::size_t>(data)].unlock();
  }
};

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {
  options_.base_url = checked_base_url(options_.base_url);
  initialise_curl();
  shared_ = std::make_unique<Shared>();
}

HttpClient::~HttpClient() = default;

std::string HttpClient::escape(std::string_view text) {
  initialise_curl();
  std::unique_ptr<CURL, EasyDeleter> handle(curl_easy_init());
  char* escaped = curl_easy_escape(handle.get(), text.data(), static_cast<int>(text.size()));
  std::string result(escaped);
  curl_free(escaped);
  return result;
}

HttpResponse HttpClient::get(const std::string& target, const std::string& accept) const {
  return perform(target, nullptr, {}, accept);
}

HttpResponse HttpClient::post(const std::string& target, const std::string& content_type,
                              std::string_view body, const std::string& accept) const {
  return perform(target, &content_type, body, accept);
}

HttpResponse HttpClient::perform(const std::string& target, const std::string* content_type,
                                 std::string_view body, const std::string& accept) const {
  const std::string url = target.starts_with(options_.base_url + "/") ? target : options_.base_url + target;
  std::unique_ptr<CURL, EasyDeleter> handle(curl_easy_init());
  if (!handle) throw HttpError(HttpError::Kind::Transfer, 0, "libcurl cannot make a request handle");
  CURL* curl = handle.get();
  std::array<char, CURL_ERROR_SIZE> detail{};
  HttpResponse response;

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_SHARE, shared_->handle);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail.data());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!options_.user.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, options_.user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, options_.password.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);

  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Accept: " + accept).c_str());
  if (content_type != nullptr) {
    headers = curl_slist_append(headers, ("Content-Type: " + *content_type).c_str());
    headers = curl_slist_append(headers, "Expect:"); // no 100-continue round trip
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  std::unique_ptr<curl_slist, ListDeleter> header_list(headers);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());

  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    const std::string why = detail[0] != '\0' ? std::string(detail.data()) : curl_easy_strerror(code);
    const std::string request = (content_type != nullptr ? "POST " : "GET ") + url;
    switch (code) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
        throw HttpError(HttpError::Kind::Unreachable, 0, "cannot connect for " + request + ": " + why);
      case CURLE_OPERATION_TIMEDOUT:
        throw HttpError(HttpError::Kind::Transfer, 0, "no answer in time to " + request + ": " + why);
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
        throw HttpError(HttpError::Kind::Tls, 0,
                        "TLS failed for " + request + ": " + why +
                            " (an untrusted certificate is refused: give the server's CA in ca_file)");
      default:
        throw HttpError(HttpError::Kind::Transfer, 0, request + " failed: " + why);
    }
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  char* type = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type != nullptr)
    response.content_type = type;
  if (response.status == 401 || response.status == 403)
    throw HttpError(
        HttpError::Kind::Refused, response.status,
        "the server refused " +
            (options_.user.empty() ? std::string("anonymous access") : "user \"" + options_.user + "\"") +
            " (HTTP " + std::to_string(response.status) + ") for " + url +
            "; check the user and the password (password_env or password_file)");
  if (response.status < 200 || response.status > 299)
    throw HttpError(
        HttpError::Kind::Status, response.status,
        "HTTP " + std::to_string(response.status) + " for " + url + ": " + excerpt(response.body));
  return response;
}

} // namespace radpipe::orthanc
