#include "tests/support/postgres.h"

#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <vector>

#include "tests/support/nginx.h"  // free_port

namespace flowbatch::test {
namespace {

/// Who runs the server: "nobody" when the tests run as root (PostgreSQL refuses root), else us.
struct PgOwner {
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
};

PgOwner pg_server_owner() {
  PgOwner o;
  if (o.uid != 0) return o;
  const passwd* nobody = ::getpwnam("nobody");
  REQUIRE_MESSAGE(nobody, "running as root, and there is no user \"nobody\" to run PostgreSQL as");
  return PgOwner{nobody->pw_uid, nobody->pw_gid};
}

/// Starts `args` as the server's owner, its output appended to `log`.
pid_t spawn_as(const std::vector<std::string>& args, const PgOwner& owner, const std::filesystem::path& log) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::getegid() != owner.gid && ::setgid(owner.gid) != 0) ::_exit(126);
    if (::geteuid() != owner.uid && ::setuid(owner.uid) != 0) ::_exit(126);
    if (std::FILE* f = std::fopen(log.c_str(), "a")) {
      ::dup2(::fileno(f), 1);
      ::dup2(::fileno(f), 2);
    }
    std::vector<char*> argv;
    for (auto& a : const_cast<std::vector<std::string>&>(args)) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

/// A new folder only the server's owner can read.
std::filesystem::path pg_owned_folder(const PgOwner& owner) {
  std::string name = (std::filesystem::temp_directory_path() / "flowbatch-pg-XXXXXX").string();
  REQUIRE(::mkdtemp(name.data()) != nullptr);
  REQUIRE(::chown(name.c_str(), owner.uid, owner.gid) == 0);
  return name;
}

}  // namespace

std::filesystem::path PostgresProcess::bin_dir() {
  std::vector<std::filesystem::path> found;
  std::error_code ec;
  for (const auto& version : std::filesystem::directory_iterator("/usr/lib/postgresql", ec))
    if (std::filesystem::exists(version.path() / "bin" / "initdb")) found.push_back(version.path() / "bin");
  if (found.empty()) return {};
  std::sort(found.begin(), found.end());
  return found.back();  // the newest installed
}

PostgresProcess::PostgresProcess() : port_(free_port()) {
  const std::filesystem::path bin = bin_dir();
  REQUIRE_MESSAGE(!bin.empty(), "PostgreSQL is not installed");
  const PgOwner owner = pg_server_owner();
  folder_ = pg_owned_folder(owner);
  const std::filesystem::path log = folder_ / "server.log";
  std::ofstream(folder_ / "password") << kPassword << "\n";
  REQUIRE(::chown((folder_ / "password").c_str(), owner.uid, owner.gid) == 0);

  const pid_t initdb =
      spawn_as({(bin / "initdb").string(), "-D", (folder_ / "data").string(), "-U", kUser, "--auth=scram-sha-256",
                "--pwfile=" + (folder_ / "password").string(), "-E", "UTF8", "--no-sync", "--no-instructions"},
               owner, log);
  int status = 0;
  ::waitpid(initdb, &status, 0);
  REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), "initdb failed: " << read_file(log));

  // fsync off: a throwaway cluster for tests, where speed matters and a power cut does not.
  pid_ = spawn_as({(bin / "postgres").string(), "-D", (folder_ / "data").string(), "-p", std::to_string(port_), "-k",
                   folder_.string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=60"},
                  owner, log);
  connection_ = std::make_unique<PostgresConnection>(PostgresTarget{url(), "test postgres", std::chrono::seconds(5)});
  const bool up = eventually(
      [&] {
        try {
          connection_->exec("SELECT 1");
          return true;
        } catch (const std::exception&) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          return false;
        }
      },
      std::chrono::seconds(30));
  REQUIRE_MESSAGE(up, "PostgreSQL does not answer: " << read_file(log));
}

PostgresProcess::~PostgresProcess() {
  connection_.reset();
  if (pid_ > 0) {
    ::kill(pid_, SIGQUIT);  // immediate shutdown: nothing of a test's cluster is kept
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(folder_, ec);
}

std::string PostgresProcess::url(const std::string& password) const {
  return fmt::format("postgresql://{}:{}@127.0.0.1:{}/postgres", kUser, password, port_);
}

PgResult PostgresProcess::exec(const std::string& sql) {
  try {
    return connection_->exec(sql);
  } catch (const std::exception& e) {
    FAIL(sql << ": " << e.what());
  }
  return PgResult{};
}

std::string PostgresProcess::value(const std::string& sql) {
  const PgResult r = exec(sql);
  REQUIRE_MESSAGE(r.rows() > 0, sql);
  return r.text(0, 0);
}

void PostgresProcess::make_queue(const std::string& table, int n) {
  exec(
      fmt::format("CREATE TABLE {0} (id text PRIMARY KEY, text text, status text NOT NULL DEFAULT 'pending', "
                  "claimed_at timestamptz, deliveries integer NOT NULL DEFAULT 0); "
                  "INSERT INTO {0} (id, text) SELECT 'i' || k, 'item ' || k FROM generate_series(1, {1}) AS k",
                  table, n));
}

}  // namespace flowbatch::test
