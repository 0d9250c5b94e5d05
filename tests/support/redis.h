#pragma once
// redis-server, started by a test on a free loopback port, its files in a test folder. `make deps`
// installs it; tests skip (with a message) where it is missing.
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/io/redis_connection.h"
#include "tests/support/fixtures.h"

namespace flowbatch::test {

class RedisProcess {
 public:
  /// The redis-server program, or "" when it is not installed.
  static std::string program();

  /// Starts redis-server (no persistence); `extra` are more command-line settings
  /// ("--requirepass", "secret"). Returns once it answers PING.
  explicit RedisProcess(const TempDir& dir, const std::vector<std::string>& extra = {});
  ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  /// Runs a command on the test's own connection (fails the test on an error reply).
  RedisReply command(const std::vector<std::string>& args);
  /// Stops the server at once (SIGKILL), as a crash would.
  void kill();

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<RedisConnection> connection_;
};

/// Skips the calling test with a message when redis-server is not installed.
#define REQUIRE_REDIS_OR_SKIP()                                                  \
  do {                                                                           \
    if (::flowbatch::test::RedisProcess::program().empty()) {                    \
      MESSAGE("skipped: redis-server is not installed (make deps installs it)"); \
      return;                                                                    \
    }                                                                            \
  } while (0)

}  // namespace flowbatch::test
