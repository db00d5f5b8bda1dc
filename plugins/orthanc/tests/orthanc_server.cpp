#include "orthanc_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <radpipe/testing.hpp>
#include <stdexcept>
#include <thread>

#include "http_client.hpp"

extern char** environ;

namespace radpipe::orthanc::testing {
namespace {

namespace fs = std::filesystem;

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw std::runtime_error("cannot find a free loopback port");
  ::close(fd);
  return ntohs(address.sin_port);
}

HttpClient admin_client(const std::string& url, const OrthancOptions& options) {
  HttpOptions http;
  http.base_url = url;
  http.user = options.user;
  http.password = options.password;
  http.ca_file = options.tls_ca;
  http.timeout = std::chrono::seconds(30);
  http.connect_timeout = std::chrono::seconds(2);
  return HttpClient(http);
}

void run_or_throw(const std::string& command) {
  const auto result = radpipe::testing::run_command(command);
  if (result.exit_code != 0) throw std::runtime_error(command + " failed: " + result.err);
}

} // namespace

OrthancServer::OrthancServer(fs::path folder, OrthancOptions options)
    : folder_(std::move(folder)), options_(std::move(options)), port_(free_loopback_port()) {
  fs::create_directories(folder_ / "storage");
  nlohmann::json config{
      {"Name", "radpipe-test"},
      {"StorageDirectory", (folder_ / "storage").string()},
      {"IndexDirectory", (folder_ / "storage").string()},
      {"HttpPort", port_},
      {"RemoteAccessAllowed", false},
      {"DicomServerEnabled", false},
      {"AuthenticationEnabled", true},
      {"RegisteredUsers", {{options_.user, options_.password}}},
      {"HttpsVerifyPeers", true},
      {"Plugins", {"/usr/share/orthanc/plugins/libOrthancDicomWeb.so"}},
      {"DicomWeb", {{"Enable", true}, {"Root", "/dicom-web/"}}},
  };
  if (!options_.tls_certificate.empty()) {
    config["SslEnabled"] = true;
    config["SslCertificate"] = options_.tls_certificate.string();
  }
  std::ofstream(folder_ / "orthanc.json") << config.dump(2);
  start();
}

OrthancServer::~OrthancServer() { stop(); }

std::string OrthancServer::url() const {
  return std::string(options_.tls_certificate.empty() ? "http" : "https") + "://127.0.0.1:" + std::to_string(port_);
}

void OrthancServer::start() {
  if (pid_ > 0) return;
  if (::access("/usr/sbin/Orthanc", X_OK) != 0)
    throw std::runtime_error("/usr/sbin/Orthanc is missing: run scripts/setup-debian.sh (packages orthanc, orthanc-dicomweb)");
  const std::string log = (folder_ / "orthanc.log").string();
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  ::posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::string program = "/usr/sbin/Orthanc", config = (folder_ / "orthanc.json").string();
  char* argv[] = {program.data(), config.data(), nullptr};
  const int error = ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv, environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (error != 0) throw std::runtime_error("cannot start Orthanc");
  const HttpClient client = admin_client(url(), options_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    try {
      client.get("/system", "application/json");
      return;
    } catch (const HttpError&) {
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("Orthanc ended at start: " + radpipe::testing::read_text(log));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      throw std::runtime_error("Orthanc did not answer within 30 s: " + radpipe::testing::read_text(log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void OrthancServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  pid_ = -1;
}

void OrthancServer::upload(const fs::path& file) const {
  admin_client(url(), options_).post("/instances", "application/dicom", radpipe::testing::read_text(file),
                                              "application/json");
}

nlohmann::json OrthancServer::get(const std::string& path) const {
  return nlohmann::json::parse(admin_client(url(), options_).get(path, "application/json").body);
}

std::size_t OrthancServer::instance_count() const { return get("/instances").size(); }

TestCertificates make_test_certificates(const fs::path& folder) {
  fs::create_directories(folder);
  const auto in = [&](const std::string& name) { return "'" + (folder / name).string() + "'"; };
  const std::string quiet = " 2>/dev/null";
  run_or_throw("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=radpipe test CA' -keyout " + in("ca.key") +
               " -out " + in("ca.pem") + quiet);
  run_or_throw("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=another CA' -keyout " + in("other-ca.key") +
               " -out " + in("other-ca.pem") + quiet);
  run_or_throw("openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' -keyout " + in("server.key") + " -out " +
               in("server.csr") + quiet);
  std::ofstream(folder / "san.cnf") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  run_or_throw("openssl x509 -req -days 2 -in " + in("server.csr") + " -CA " + in("ca.pem") + " -CAkey " + in("ca.key") +
               " -CAcreateserial -extfile " + in("san.cnf") + " -out " + in("server.crt") + quiet);
  run_or_throw("cat " + in("server.key") + " " + in("server.crt") + " > " + in("server.pem"));
  return TestCertificates{folder / "ca.pem", folder / "server.pem", folder / "other-ca.pem"};
}

} // namespace radpipe::orthanc::testing
