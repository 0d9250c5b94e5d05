// Ctrl-C: the first interrupt drains (no new items, in-flight ones finish, partial batches and
// sinks are flushed) and exits 130; a second one stops at once.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <thread>

#include "tests/support/fixtures.h"

using namespace flowbatch::test;
using namespace std::chrono_literals;

namespace {
const char* kSlowGraph = R"(
[pipeline]
shutdown_grace_ms = %GRACE%
progress = "plain"
[providers.slow]
type = "mock"
latency_ms = 200
latency_sigma = 0
max_concurrency = 4
[sources.in]
path = "in.jsonl"
id_field = "id"
[batches.b]
inputs = ["in"]
max_items = 3
timeout_ms = 3600000
[calls.c]
inputs = ["b"]
provider = "slow"
prompt = "{{text}}"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
flush_every = 100000
flush_interval_ms = 3600000
)";

struct Child {
  pid_t pid;
  int status = 0;
};

Child start(const TempDir& dir, const std::string& grace) {
  std::string g = kSlowGraph;
  g.replace(g.find("%GRACE%"), 7, grace);
  dir.write("g.toml", g);
  dir.write("in.jsonl", make_jsonl(2000));
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::chdir(dir.path().c_str()) != 0) ::_exit(126);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::execl(FLOWBATCH_BINARY, FLOWBATCH_BINARY, "g.toml", nullptr);
    ::_exit(127);
  }
  return Child{pid};
}

int wait_exit(Child& c) {
  ::waitpid(c.pid, &c.status, 0);
  return WIFEXITED(c.status) ? WEXITSTATUS(c.status) : 128 + WTERMSIG(c.status);
}
}  // namespace

TEST_CASE("the first Ctrl-C drains: in-flight items finish and are flushed, then exit 130") {
  TempDir dir;
  Child c = start(dir, "30000");
  std::this_thread::sleep_for(1500ms);  // let some requests complete (4 at a time, 200 ms each)
  ::kill(c.pid, SIGINT);
  CHECK(wait_exit(c) == 130);
  const auto out = read_jsonl(dir / "out.jsonl");  // flushed although flush_every was never reached
  CHECK(out.size() > 0);
  CHECK(out.size() < 2000);
  const auto ids = count_ids(out);
  CHECK(ids.size() == out.size());  // nothing written twice
  for (const auto& r : out) CHECK(r.contains("output"));
}

TEST_CASE("a second Ctrl-C stops at once, still flushing what was done") {
  TempDir dir;
  Child c = start(dir, "3600000");  // a grace period nobody would wait out
  std::this_thread::sleep_for(1000ms);
  ::kill(c.pid, SIGINT);
  std::this_thread::sleep_for(100ms);
  ::kill(c.pid, SIGINT);
  CHECK(wait_exit(c) == 130);
  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(count_ids(out).size() == out.size());
}
