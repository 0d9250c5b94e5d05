// Ctrl-C: the first interrupt drains (no new items, in-flight ones finish, partial batches and
// sinks are flushed) and exits 130; a second one stops at once.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <fmt/format.h>

#include <thread>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

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
  CHECK(out.size() > 0);  // a second of work (4 requests of 3 items every 200 ms) was flushed
  CHECK(out.size() < 2000);
  CHECK(count_ids(out).size() == out.size());
}

TEST_CASE(
    "Ctrl-C with a source wired straight to a call: every answered item is written, the drain ends with the "
    "last answer, and the resumed run sends only what was never answered") {
  MockServer server({"--latency-ms", "100", "--latency-sigma", "0"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(500));
  dir.write("g.toml", fmt::format(R"(
[pipeline]
shutdown_grace_ms = 60000
progress = "off"
[providers.api]
type = "openai"
base_url = "{}"
api_key_env = ""
max_concurrency = 4
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "api"
model = "m"
prompt = "{{{{text}}}}"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                                  server.base_url()));
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::chdir(dir.path().c_str()) != 0) ::_exit(126);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::execl(FLOWBATCH_BINARY, FLOWBATCH_BINARY, "g.toml", nullptr);
    ::_exit(127);
  }
  Child c{pid};
  std::this_thread::sleep_for(1500ms);  // ~60 answers at 4 in flight, 100 ms each: all of one admitted chunk
  const auto interrupted_at = std::chrono::steady_clock::now();
  ::kill(c.pid, SIGINT);
  CHECK(wait_exit(c) == 130);
  // The drain waits for the requests in flight (100 ms), not for the grace period (60 s).
  CHECK(std::chrono::steady_clock::now() - interrupted_at < 10s);

  const auto answered = server.stats().at("requests").to_number<int>();
  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(answered > 4);
  CHECK(static_cast<int>(out.size()) == answered);  // every paid answer is in the sink
  CHECK(count_ids(out).size() == out.size());

  server.reset_stats();
  auto resumed = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(resumed.exit_code == 0, resumed.err);
  CHECK(server.stats().at("requests").to_number<int>() == 500 - answered);  // nothing answered is paid again
  const auto all = count_ids(read_jsonl(dir / "out.jsonl"));
  CHECK(all.size() == 500);
  for (const auto& [id, n] : all) CHECK_MESSAGE(n == 1, id);
}
