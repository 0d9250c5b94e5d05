#pragma once
// A throwaway PostgreSQL server, started by a test on a free loopback port, its cluster in a
// folder of its own. PostgreSQL refuses to run as root: when the tests run as root, the server
// (and initdb) run as the user "nobody". `make deps` installs it; tests skip (with a message)
// where it is missing, and fail when it is installed but does not start.
#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "engine/io/postgres_connection.h"
#include "tests/support/fixtures.h"

namespace flowbatch::test {

class PostgresProcess {
 public:
  /// The folder of initdb and postgres, or "" when PostgreSQL is not installed.
  static std::filesystem::path bin_dir();
  static constexpr const char* kUser = "flowbatch";
  static constexpr const char* kPassword = "pg-test-pa55word";

  /// Makes a cluster (password authentication on TCP), starts it and returns once it answers.
  PostgresProcess();
  ~PostgresProcess();
  PostgresProcess(const PostgresProcess&) = delete;
  PostgresProcess& operator=(const PostgresProcess&) = delete;

  int port() const { return port_; }
  /// postgresql://flowbatch:<password>@127.0.0.1:<port>/postgres (another password for a wrong one).
  std::string url(const std::string& password = kPassword) const;
  /// Runs SQL on the test's own connection (fails the test on an error).
  PgResult exec(const std::string& sql);
  /// The first column of the first row of `sql`'s result, as text.
  std::string value(const std::string& sql);
  /// A queue table in the postgres_queue source's default layout (id text, text, status,
  /// claimed_at, deliveries) holding `n` pending rows {"id": "i<k>", "text": "item <k>"}.
  void make_queue(const std::string& table, int n);

 private:
  std::filesystem::path folder_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<PostgresConnection> connection_;
};

/// Skips the calling test with a message when PostgreSQL is not installed.
#define REQUIRE_POSTGRES_OR_SKIP()                                                                \
  do {                                                                                            \
    if (::flowbatch::test::PostgresProcess::bin_dir().empty()) {                                  \
      MESSAGE("skipped: PostgreSQL (initdb, postgres) is not installed (make deps installs it)"); \
      return;                                                                                     \
    }                                                                                             \
  } while (0)

}  // namespace flowbatch::test
