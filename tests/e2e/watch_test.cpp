// `flowbatch run --listen` and `flowbatch ctl` as a user runs them: the built program against
// flowbatch-mock on loopback, steered from another process, then killed with SIGKILL.
#include <signal.h>
#include <sys/wait.h>

#include <doctest/doctest.h>

#include <fmt/format.h>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

const std::vector<std::string> kNeedToken = {"--set", "pipeline.listen_token_env=WATCH_E2E_TOKEN"};

ProcessResult ctl(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> all = {"ctl", "graph.toml"};
  all.insert(all.end(), args.begin(), args.end());
  all.insert(all.end(), kNeedToken.begin(), kNeedToken.end());
  return run_flowbatch(all, dir.path());
}

}  // namespace

TEST_CASE("flowbatch ctl finds a running job, steers it, and says so plainly once it is killed") {
  ScopedEnv token("WATCH_E2E_TOKEN", "e2e-token-0123456789abcdef");
  MockServer mock({"--latency-ms", "40"});
  TempDir dir;
  dir.write("graph.toml", openai_chat_graph(mock.base_url(), "max_concurrency = 2", ""));
  dir.write("in.jsonl", make_jsonl(400));
  const std::vector<std::string> run = {"run", "graph.toml", "--listen", "127.0.0.1:0", kNeedToken[0], kNeedToken[1]};
  const pid_t pid = start_flowbatch(run, dir.path());
  const auto address_file = dir / ".flowbatch/graph.db.listen";
  REQUIRE(eventually([&] { return std::filesystem::exists(address_file); }, std::chrono::seconds(20)));

  const ProcessResult paused = ctl(dir, {"pause"});
  CHECK_MESSAGE(paused.exit_code == 0, paused.err);
  CHECK(paused.out.find("\"status\":\"paused\"") != std::string::npos);
  CHECK(ctl(dir, {"status"}).out.find("\"status\":\"paused\"") != std::string::npos);

  const ProcessResult set = ctl(dir, {"set", "providers.p.max_concurrency=1", "providers.p.requests_per_minute=6000"});
  CHECK_MESSAGE(set.exit_code == 0, set.err);
  CHECK(set.out.find("\"max_concurrency\":1") != std::string::npos);
  CHECK(ctl(dir, {"set", "providers.nope.max_concurrency=1"}).exit_code == 64);
  CHECK(ctl(dir, {"set", "max_concurrency=1"}).exit_code == 64);
  CHECK(ctl(dir, {"set", "providers.p.max_concurrency=lots"}).exit_code == 64);
  CHECK(ctl(dir, {"metrics"}).out.find("flowbatch_provider_concurrency_limit{pipeline=\"graph\",provider=\"p\"} 1") !=
        std::string::npos);
  {
    ScopedEnv wrong("WATCH_E2E_TOKEN", "not-the-token-0123456789");
    const ProcessResult refused = ctl(dir, {"resume"});
    CHECK(refused.exit_code == 78);
    CHECK(refused.err.find("401") != std::string::npos);
  }
  CHECK(ctl(dir, {"resume"}).exit_code == 0);

  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const ProcessResult gone = ctl(dir, {"status"});
  CHECK(gone.exit_code == 75);
  CHECK(gone.err.find("no run of graph.toml answers") != std::string::npos);

  // The killed run's address file is stale; the next run replaces it, finishes, and removes it.
  const ProcessResult again = run_flowbatch(run, dir.path());
  CHECK_MESSAGE(again.exit_code == 0, again.err);
  CHECK_FALSE(std::filesystem::exists(address_file));
  const auto ids = count_ids(read_jsonl(dir / "out.jsonl"));
  CHECK(ids.size() == 400);
  for (const auto& [id, n] : ids) CHECK_MESSAGE(n == 1, id);
}
