#pragma once
// The flowbatch-mock program as a test fixture: started on an ephemeral loopback port with the
// given flags, stopped (SIGTERM, then reaped) when the fixture goes out of scope. The program also
// gets SIGTERM if the thread that started it exits (PR_SET_PDEATHSIG), so a crashed test leaves no
// server behind: create the fixture on a thread that outlives it.
//
//   flowbatch::test::MockServer mock({"--latency-ms", "50", "--rpm", "600"});
//   ... point a provider at mock.base_url() ...
//   CHECK(mock.stats().at("requests").as_int64() == 10);
#include <sys/types.h>

#include <boost/json/object.hpp>

#include <string>
#include <vector>

namespace flowbatch::test {

class MockServer {
 public:
  /// Fails the current test if the program does not print its address within 10 s.
  explicit MockServer(std::vector<std::string> flags = {});
  ~MockServer();
  MockServer(const MockServer&) = delete;
  MockServer& operator=(const MockServer&) = delete;

  std::string url() const { return url_; }               ///< "http://127.0.0.1:PORT"
  std::string base_url() const { return url_ + "/v1"; }  ///< where an OpenAI-style client points
  int port() const { return port_; }

  /// GET /stats, parsed.
  boost::json::object stats() const;
  /// POST /stats/reset.
  void reset_stats();

  /// Sends SIGTERM and waits (SIGKILL after 5 s); the program's exit code (128 + signal if it
  /// was killed by one). The destructor does this if the test did not.
  int terminate();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  std::string url_;
};

}  // namespace flowbatch::test
