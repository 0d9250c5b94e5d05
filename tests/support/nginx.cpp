#include "tests/support/nginx.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace flowbatch::test {

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in a = loopback(port);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(0);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string Nginx::program() {
  for (const char* p : {"/usr/sbin/nginx", "/usr/local/sbin/nginx"})
    if (std::filesystem::exists(p)) return p;
  return {};
}

Nginx::Nginx(const TempDir& dir, const std::string& http_block, const std::vector<int>& ports) : dir_(dir) {
  const std::string nginx = program();
  REQUIRE_MESSAGE(!nginx.empty(), "nginx is not installed");
  for (const char* sub : {"body", "proxy", "fcgi", "uwsgi", "scgi"}) std::filesystem::create_directories(dir / sub);
  // In the foreground, one process, everything inside the test's folder.
  dir.write("nginx.conf", fmt::format(R"(worker_processes 1;
daemon off;
master_process off;
pid {0}/nginx.pid;
error_log {0}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {0}/access.log;
  client_body_temp_path {0}/body;
  proxy_temp_path {0}/proxy;
  fastcgi_temp_path {0}/fcgi;
  uwsgi_temp_path {0}/uwsgi;
  scgi_temp_path {0}/scgi;
{1}
}}
)",
                                      dir.path().string(), http_block));
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::execl(nginx.c_str(), nginx.c_str(), "-c", (dir / "nginx.conf").c_str(), "-p", dir.path().c_str(), nullptr);
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int port : ports) {
    while (!accepts(port)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("nginx exited at start-up: ", read_file(dir / "error.log"));
      }
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "nginx does not listen on port ", port);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

Nginx::~Nginx() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
}

std::string Nginx::access_log() const { return read_file(dir_ / "access.log"); }

}  // namespace flowbatch::test
