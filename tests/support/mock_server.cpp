#include "tests/support/mock_server.h"

#include <curl/curl.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <chrono>
#include <thread>

namespace flowbatch::test {
namespace {

constexpr std::string_view kListening = "flowbatch-mock listening on ";
constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kStopTimeout = std::chrono::seconds(5);

/// Reads the child's stdout until its first line, EOF or the deadline.
std::string read_first_line(int fd, std::chrono::steady_clock::time_point deadline) {
  std::string text;
  while (text.find('\n') == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd waiting{fd, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    char chunk[256];
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the program exited (a bad flag, say)
    text.append(chunk, static_cast<std::size_t>(n));
  }
  return text.substr(0, text.find('\n'));
}

std::size_t append_to_string(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

/// A small request to the mock's own endpoints; fails the test unless it answers 200.
std::string fetch(const std::string& url, bool post) {
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &append_to_string);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (post) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  INFO("GET/POST " << url << ": " << curl_easy_strerror(code) << ", body: " << body);
  REQUIRE(code == CURLE_OK);
  REQUIRE(status == 200);
  return body;
}

}  // namespace

MockServer::MockServer(std::vector<std::string> flags) {
  std::vector<std::string> argv = {FLOWBATCH_MOCK_BINARY, "--port", "0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  int out_pipe[2];
  // Close-on-exec, so servers started later in this process do not inherit this pipe.
  REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    // The server must not outlive a test process that crashes or is killed.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  stdout_fd_ = out_pipe[0];

  const std::string line = read_first_line(stdout_fd_, std::chrono::steady_clock::now() + kStartTimeout);
  const auto colon = line.rfind(':');
  if (line.rfind(kListening, 0) != 0 || colon == std::string::npos) {
    const int exit_code = terminate();
    FAIL("flowbatch-mock (" << FLOWBATCH_MOCK_BINARY << ") did not print \"" << kListening
                            << "...\" within 10 s; it printed \"" << line << "\" (exit code " << exit_code << ")");
  }
  url_ = line.substr(kListening.size());
  port_ = std::stoi(line.substr(colon + 1));
}

MockServer::~MockServer() { terminate(); }

int MockServer::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  pid_t reaped = 0;
  while ((reaped = ::waitpid(pid_, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (reaped == 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

boost::json::object MockServer::stats() const {
  const std::string body = fetch(url_ + "/stats", false);
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(body, ec);
  INFO("GET /stats answered: " << body);
  REQUIRE_FALSE(ec);
  REQUIRE(parsed.is_object());
  return std::move(parsed.get_object());
}

void MockServer::reset_stats() { fetch(url_ + "/stats/reset", true); }

}  // namespace flowbatch::test
