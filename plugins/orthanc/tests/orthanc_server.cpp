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

pid_t spawn(const std::vector<std::string>& arguments, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
  ::posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> storage = arguments;
  std::vector<char*> argv;
  for (auto& argument : storage) argv.push_back(argument.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (error != 0) throw std::runtime_error("cannot start " + arguments[0]);
  return pid;
}

// Asks `client` for `path` until it answers (with 2xx, or with anything when `any_status`);
// throws with `log`'s content when the process ends or 30 s pass first.
void wait_until_answering(const HttpClient& client, const std::string& path, pid_t& pid, const fs::path& log,
                          bool any_status = false) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    try {
      client.get(path, "application/json");
      return;
    } catch (const HttpError& error) {
      if (any_status && !error.no_answer()) return;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      throw std::runtime_error("the server ended at start: " + radpipe::testing::read_text(log));
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the server did not answer within 30 s: " + radpipe::testing::read_text(log));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void end_process(pid_t& pid, int signal = SIGTERM) {
  if (pid <= 0) return;
  ::kill(pid, signal);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  pid = -1;
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
  std::ofstream(folder_ / "orthanc.json") << config.dump(2);
  start();
}

OrthancServer::~OrthancServer() {
  stop();
}

HttpOptions OrthancServer::client_options() const {
  HttpOptions http;
  http.base_url = url();
  http.user = options_.user;
  http.password = options_.password;
  http.timeout = std::chrono::seconds(30);
  http.connect_timeout = std::chrono::seconds(2);
  return http;
}

std::string OrthancServer::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

void OrthancServer::start() {
  if (pid_ > 0) return;
  if (::access("/usr/sbin/Orthanc", X_OK) != 0)
    throw std::runtime_error(
        "/usr/sbin/Orthanc is missing: run scripts/setup-debian.sh (packages orthanc, orthanc-dicomweb)");
  const fs::path log = folder_ / "orthanc.log";
  pid_ = spawn({"/usr/sbin/Orthanc", (folder_ / "orthanc.json").string()}, log);
  try {
    wait_until_answering(HttpClient(client_options()), "/system", pid_, log);
  } catch (...) {
    end_process(pid_);
    throw;
  }
}

// SIGKILL: as a crash or a power cut ends it, and at once (a clean stop takes Orthanc 4 s).
void OrthancServer::stop() {
  end_process(pid_, SIGKILL);
}

void OrthancServer::upload(const fs::path& file) const {
  HttpClient(client_options())
      .post("/instances", "application/dicom", radpipe::testing::read_text(file), "application/json");
}

nlohmann::json OrthancServer::get(const std::string& path) const {
  return nlohmann::json::parse(HttpClient(client_options()).get(path, "application/json").body);
}

std::size_t OrthancServer::instance_count() const {
  return get("/instances").size();
}

TestCertificates make_test_certificates(const fs::path& folder) {
  fs::create_directories(folder);
  const auto in = [&](const std::string& name) { return "'" + (folder / name).string() + "'"; };
  const std::string quiet = " 2>/dev/null";
  // EC keys: quick to make, and as good for the test as RSA.
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  run_or_throw("openssl req -x509 " + key + "-days 2 -subj '/CN=radpipe test CA' -keyout " + in("ca.key") +
               " -out " + in("ca.pem") + quiet);
  run_or_throw("openssl req -x509 " + key + "-days 2 -subj '/CN=another CA' -keyout " + in("other-ca.key") +
               " -out " + in("other-ca.pem") + quiet);
  run_or_throw("openssl req " + key + "-subj '/CN=127.0.0.1' -keyout " + in("server.key") + " -out " +
               in("server.csr") + quiet);
  std::ofstream(folder / "san.cnf") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  run_or_throw("openssl x509 -req -days 2 -in " + in("server.csr") + " -CA " + in("ca.pem") + " -CAkey " +
               in("ca.key") + " -CAcreateserial -extfile " + in("san.cnf") + " -out " + in("server.crt") +
               quiet);
  return TestCertificates{folder / "ca.pem", folder / "server.crt", folder / "server.key",
                          folder / "other-ca.pem"};
}

TlsProxy::TlsProxy(fs::path folder, const TestCertificates& certificates, int target_port)
    : folder_(std::move(folder)), port_(free_loopback_port()) {
  if (::access("/usr/sbin/nginx", X_OK) != 0)
    throw std::runtime_error("/usr/sbin/nginx is missing: run scripts/setup-debian.sh (package nginx)");
  fs::create_directories(folder_ / "temp");
  const std::string at = folder_.string();
  // One process as the test's user, everything under the test's folder.
  std::ofstream(folder_ / "nginx.conf")
      << "daemon off;\nmaster_process off;\npid " << at << "/nginx.pid;\nerror_log " << at << "/error.log;\n"
      << "events { worker_connections 64; }\n"
      << "http {\n  access_log off;\n  client_max_body_size 0;\n"
      << "  client_body_temp_path " << at << "/temp/body;\n  proxy_temp_path " << at << "/temp/proxy;\n"
      << "  fastcgi_temp_path " << at << "/temp/fastcgi;\n  uwsgi_temp_path " << at << "/temp/uwsgi;\n"
      << "  scgi_temp_path " << at << "/temp/scgi;\n"
      << "  server {\n    listen 127.0.0.1:" << port_ << " ssl;\n"
      << "    ssl_certificate " << certificates.server_certificate.string() << ";\n"
      << "    ssl_certificate_key " << certificates.server_key.string() << ";\n"
      << "    location / { proxy_pass http://127.0.0.1:" << target_port
      << "; proxy_request_buffering off; }\n"
      << "  }\n}\n";
  const fs::path log = folder_ / "nginx.log";
  pid_ = spawn(
      {"/usr/sbin/nginx", "-p", at, "-e", at + "/error.log", "-c", (folder_ / "nginx.conf").string()}, log);
  HttpOptions http;
  http.base_url = url();
  http.ca_file = certificates.ca;
  http.connect_timeout = std::chrono::seconds(2);
  try {
    // Any HTTP answer, Orthanc's 401 included, means TLS works end to end.
    wait_until_answering(HttpClient(http), "/", pid_, log, true);
  } catch (...) {
    end_process(pid_);
    throw;
  }
}

TlsProxy::~TlsProxy() {
  end_process(pid_);
}

std::string TlsProxy::url() const {
  return "https://127.0.0.1:" + std::to_string(port_);
}

} // namespace radpipe::orthanc::testing
