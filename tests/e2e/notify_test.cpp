// [notify.NAME] as downstream systems see it: a real webhook receiver on loopback (and a local
// command) told of every commit and of the end, against the built program and flowbatch-mock.
#include <signal.h>
#include <sys/wait.h>

#include <doctest/doctest.h>

#include <fmt/format.h>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"
#include "tests/support/webhook.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

std::vector<boost::json::object> events(const std::vector<boost::json::object>& received, std::string_view event) {
  std::vector<boost::json::object> out;
  for (const auto& r : received)
    if (r.at("body").at("event").as_string() == event) out.push_back(r.at("body").as_object());
  return out;
}

/// The position and items told for output `node` in a commit or finish message.
std::pair<std::uint64_t, std::uint64_t> told(const boost::json::object& message, std::string_view node) {
  for (const auto& o : message.at("outputs").as_array())
    if (o.at("node").as_string() == node)
      return {o.at("position").to_number<std::uint64_t>(), o.at("items").to_number<std::uint64_t>()};
  FAIL("no output ", node);
  return {};
}

}  // namespace

TEST_CASE("a webhook is told of the commits as they happen and of the end, retried when it fails") {
  ScopedEnv token("NOTIFY_E2E_TOKEN", "notify-token-0123456789abcdef");
  MockServer mock({"--latency-ms", "2"});
  TempDir dir;
  WebhookReceiver hook(dir, /*fail_first=*/2);
  ChatGraph graph;
  graph.base_url = mock.base_url();
  graph.sink = "flush_interval_ms = 50\nflush_every = 100";
  dir.write("graph.toml", graph.toml() + fmt::format(R"(
[notify.hook]
url = "{}"
headers = {{ Authorization = "Bearer ${{NOTIFY_E2E_TOKEN}}" }}
min_interval_ms = 0
)",
                                                     hook.url()));
  dir.write("in.jsonl", make_jsonl(1500));
  const ProcessResult run = run_flowbatch({"run", "graph.toml"}, dir.path());
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  CHECK(run.err.find("notify-token-0123456789abcdef") == std::string::npos);

  const auto received = hook.received();
  const auto commits = events(received, "commit");
  const auto finishes = events(received, "finish");
  REQUIRE(finishes.size() == 1);
  REQUIRE(!commits.empty());
  CHECK(received.back().at("body").at("event").as_string() == "finish");  // the end is told last
  CHECK(received.front().at("authorization").as_string() == "Bearer notify-token-0123456789abcdef");
  CHECK(received.front().at("content_type").as_string() == "application/json");
  std::uint64_t last = 0;
  for (const auto& c : commits) {  // positions only grow
    CHECK(told(c, "out").first >= last);
    last = told(c, "out").first;
  }
  const auto out_size = std::filesystem::file_size(dir / "out.jsonl");
  CHECK(told(commits.back(), "out").first == out_size);  // the last commit is the whole file
  CHECK(told(commits.back(), "out").second == 1500);
  const auto& end = finishes.front();
  CHECK(end.at("status").as_string() == "finished");
  CHECK(end.at("exit_code").as_int64() == 0);
  CHECK(end.at("summary").at("items").as_int64() == 1500);
  CHECK(end.at("pipeline").as_string() == "graph");
}

TEST_CASE(
    "a command is given the finish notification on stdin as one line, and a receiver that is down is given up, not "
    "fatal") {
  MockServer mock;
  TempDir dir;
  ChatGraph graph;
  graph.base_url = mock.base_url();
  dir.write("graph.toml", graph.toml() + R"(
[notify.script]
# `read` fails on a message without its newline: the line must be whole
command = ["sh", "-c", "read -r message && printf '%s\\n' \"$message\" >> told.jsonl"]
on = ["finish"]

[notify.down]
url = "http://127.0.0.1:9/nobody-listens"
max_attempts = 2
timeout_ms = 1000
)");
  dir.write("in.jsonl", make_jsonl(20));
  const ProcessResult run = run_flowbatch({"run", "graph.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 0, run.err);  // a notification that fails never fails the run
  CHECK(run.err.find("notify.down: given up after 2 attempts") != std::string::npos);
  const auto lines = read_jsonl(dir / "told.jsonl");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("event").as_string() == "finish");
  CHECK(lines[0].at("summary").at("ok").as_int64() == 20);
}

TEST_CASE("after a kill -9, every position a receiver was told is in the file") {
  MockServer mock({"--latency-ms", "20"});
  TempDir dir;
  WebhookReceiver hook(dir);
  ChatGraph graph;
  graph.base_url = mock.base_url();
  graph.provider = "max_concurrency = 16";
  graph.sink = "flush_interval_ms = 20\nflush_every = 10";
  dir.write(
      "graph.toml",
      graph.toml() + fmt::format("[notify.hook]\nurl = \"{}\"\nmin_interval_ms = 0\non = [\"commit\"]\n", hook.url()));
  dir.write("in.jsonl", make_jsonl(3000));
  const pid_t pid = start_flowbatch({"run", "graph.toml"}, dir.path());
  REQUIRE(eventually([&] { return events(hook.received(), "commit").size() >= 3; }, std::chrono::seconds(30)));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  const auto size = std::filesystem::file_size(dir / "out.jsonl");
  for (const auto& c : events(hook.received(), "commit")) CHECK(told(c, "out").first <= size);
  // The resumed run finishes the job; the file keeps every id once.
  const ProcessResult resumed = run_flowbatch({"run", "graph.toml"}, dir.path());
  CHECK_MESSAGE(resumed.exit_code == 0, resumed.err);
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")).size() == 3000);
}

TEST_CASE("[notify] is checked with the graph: one target, commits need a state") {
  TempDir dir;
  ChatGraph graph;
  graph.base_url = "http://127.0.0.1:9";
  dir.write("in.jsonl", make_jsonl(1));
  dir.write("both.toml", graph.toml() + "[notify.x]\nurl = \"http://127.0.0.1:9/\"\ncommand = [\"true\"]\n");
  const ProcessResult both = run_flowbatch({"validate", "both.toml"}, dir.path());
  CHECK(both.exit_code == 78);
  CHECK(both.err.find("notify.x") != std::string::npos);
  CHECK(both.err.find("exactly one of url") != std::string::npos);
  graph.pipeline = "state = \"none\"";
  dir.write("nostate.toml", graph.toml() + "[notify.x]\ncommand = [\"true\"]\n");
  const ProcessResult nostate = run_flowbatch({"validate", "nostate.toml"}, dir.path());
  CHECK(nostate.exit_code == 78);
  CHECK(nostate.err.find("needs the run's state") != std::string::npos);
  dir.write("typo.toml", graph.toml() + "[notify.x]\ncommand = [\"true\"]\non = [\"comit\"]\n");
  CHECK(run_flowbatch({"validate", "typo.toml"}, dir.path()).err.find("commit") != std::string::npos);
}
