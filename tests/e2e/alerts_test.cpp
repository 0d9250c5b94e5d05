// [alerts.NAME] as their receivers see them: the built program against flowbatch-mock provoked into
// each kind of trouble, a real webhook receiver on loopback told of each alert firing once and
// resolving once, and an alert's pause stopping new requests at the server.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <ctime>
#include <sstream>
#include <thread>

#include "tests/mock_server/http_client.h"
#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"
#include "tests/support/webhook.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

/// The bodies of the alert messages about `alert` the receiver kept, in order.
std::vector<boost::json::object> alert_messages(const WebhookReceiver& hook, std::string_view alert) {
  std::vector<boost::json::object> out;
  for (const auto& r : hook.received()) {
    const auto& body = r.at("body").as_object();
    if (body.at("event").as_string() == "alert" && body.at("alert").as_string() == alert) out.push_back(body);
  }
  return out;
}

/// Fired once and then resolved once, by the value coming back (not by the end of the run).
void check_fired_and_resolved_once(const std::vector<boost::json::object>& messages, std::string_view rule) {
  REQUIRE(messages.size() == 2);
  CHECK(messages[0].at("status").as_string() == "firing");
  CHECK(messages[0].at("rule").as_string() == rule);
  CHECK(messages[0].at("pipeline").as_string() == "graph");
  CHECK(messages[1].at("status").as_string() == "resolved");
  CHECK(std::string_view(messages[1].at("summary").as_string()).find("the run ended") == std::string_view::npos);
}

/// An alert table for `rule` reporting to `hook`, short windows for a test, plus `extra` lines.
std::string alert_table(const std::string& name, const std::string& rule, const WebhookReceiver& hook,
                        const std::string& extra) {
  return fmt::format("\n[alerts.{}]\nrule = \"{}\"\nurl = \"{}\"\nwindow_ms = 1000\nresolve_after_ms = 300\n{}\n", name,
                     rule, hook.url(), extra);
}

/// The address the run's endpoint recorded once it listens.
std::string endpoint(const TempDir& dir) {
  const auto file = dir / ".flowbatch/graph.db.listen";
  REQUIRE(eventually([&] { return std::filesystem::exists(file); }, std::chrono::seconds(20)));
  std::string address = read_file(file);
  address.pop_back();  // the newline
  return "http://" + address;
}

test::HttpResponse control(const std::string& address, const std::string& path, const std::string& body = "{}") {
  return perform(HttpCall{"POST", address + path, body, {"Content-Type: application/json"}});
}

std::int64_t mock_requests(const MockServer& mock) { return mock.stats().at("requests").as_int64(); }

/// "HH:MM:SS" in UTC, `ahead` from now.
std::string utc_clock(std::chrono::seconds ahead) {
  const std::time_t at = std::time(nullptr) + ahead.count();
  std::tm utc{};
  gmtime_r(&at, &utc);
  char text[16];
  std::strftime(text, sizeof text, "%H:%M:%S", &utc);
  return text;
}

}  // namespace

TEST_CASE("a success rate that falls fires once and resolves once the failures are past") {
  MockServer mock({"--latency-ms", "5", "--max-prompt-chars", "200"});
  TempDir dir;
  WebhookReceiver hook(dir);
  // Records in order: good ones, a run of poisoned ones (a prompt the server refuses, 400: not
  // retried, dead-lettered), then good ones again for long enough to clear the window.
  std::string input = make_jsonl(300, "a");
  for (int i = 0; i < 100; ++i)
    input += fmt::format("{{\"id\":\"poison{}\",\"text\":\"{}\"}}\n", i, std::string(300, 'x'));
  input += make_jsonl(2500, "b");
  dir.write("in.jsonl", input);
  // The same rule told to a command as well, the message on its stdin.
  dir.write("graph.toml", openai_chat_graph(mock.base_url(), "max_concurrency = 4", "") +
                              alert_table("failing", "success_rate", hook, "below = 0.95\nmin_samples = 20") + R"(
[alerts.script]
rule = "success_rate"
window_ms = 1000
resolve_after_ms = 300
command = ["sh", "-c", "cat >> told.jsonl && echo >> told.jsonl"]
)");
  const ProcessResult run = run_flowbatch({"run", "graph.toml"}, dir.path());
  REQUIRE_MESSAGE(run.exit_code == 3, run.err);  // finished, a dead letter holds the poisoned records
  const auto messages = alert_messages(hook, "failing");
  check_fired_and_resolved_once(messages, "success_rate");
  CHECK(messages[0].at("value").to_number<double>() < 0.95);
  CHECK(messages[0].at("unit").as_string() == "share");
  CHECK(messages[1].at("value").to_number<double>() >= 0.95);
  // The log line is always written, and says the same.
  CHECK(run.err.find("[alert:failing] alerts.failing firing: success rate") != std::string::npos);
  CHECK(run.err.find("[alert:failing] alerts.failing resolved") != std::string::npos);
  const auto told = read_jsonl(dir / "told.jsonl");
  REQUIRE(told.size() == 2);
  CHECK(told[0].at("alert").as_string() == "script");
  CHECK(told[0].at("status").as_string() == "firing");
  CHECK(told[1].at("status").as_string() == "resolved");
}

TEST_CASE("a median latency that rises past its baseline fires once and resolves once it is back") {
  // A queueing server: past one request at a time, each is slower in proportion to the crowd.
  MockServer mock({"--latency-ms", "20", "--latency-sigma", "0", "--capacity", "1"});
  TempDir dir;
  WebhookReceiver hook(dir);
  dir.write("in.jsonl", make_jsonl(3000));
  dir.write("graph.toml", openai_chat_graph(mock.base_url(), "max_concurrency = 1", "") +
                              alert_table("slow", "latency", hook, "above = 3\nbaseline_ms = 1000\nmin_samples = 10"));
  const pid_t pid = start_flowbatch({"run", "graph.toml", "--listen", "127.0.0.1:0"}, dir.path());
  const std::string address = endpoint(dir);
  REQUIRE(eventually([&] { return mock_requests(mock) >= 60; }, std::chrono::seconds(20)));  // past the baseline
  // Eight at once, beyond the one the run started with: each takes eight times as long.
  REQUIRE(control(address, "/limits", R"({"provider": "p", "max_concurrency": 8})").status == 200);
  REQUIRE(eventually([&] { return alert_messages(hook, "slow").size() == 1; }, std::chrono::seconds(20)));
  REQUIRE(control(address, "/limits", R"({"provider": "p", "max_concurrency": 1})").status == 200);
  REQUIRE(eventually([&] { return alert_messages(hook, "slow").size() == 2; }, std::chrono::seconds(20)));
  REQUIRE(control(address, "/drain").status == 200);
  CHECK(wait_exit(pid) == 130);
  const auto messages = alert_messages(hook, "slow");
  check_fired_and_resolved_once(messages, "latency");
  CHECK(messages[0].at("unit").as_string() == "ms");
  CHECK(messages[0].at("value").to_number<double>() > messages[0].at("threshold").to_number<double>());
}

TEST_CASE("a burst of 429s fires once and resolves once the run keeps to the server's limit") {
  // 1,200 a minute, a bucket of one second: of the first 64 requests at once, most are refused.
  // The rule's threshold is well above the few 429s the gate's later probes of the limit meet
  // (a loaded machine bunches them): it fires for the burst alone.
  MockServer mock({"--latency-ms", "5", "--rpm", "1200", "--burst-seconds", "1"});
  TempDir dir;
  WebhookReceiver hook(dir);
  dir.write("in.jsonl", make_jsonl(200));
  dir.write("graph.toml", openai_chat_graph(mock.base_url(), "max_concurrency = 64", "max_attempts = 20") +
                              alert_table("throttled", "rate_limited", hook, "above = 0.5\nmin_samples = 10"));
  const ProcessResult run = run_flowbatch({"run", "graph.toml", "--log-format", "json"}, dir.path());
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  CHECK(mock.stats().at("rate_limited").as_int64() > 0);
  const auto messages = alert_messages(hook, "throttled");
  check_fired_and_resolved_once(messages, "rate_limited");
  CHECK(messages[0].at("value").to_number<double>() > 0.5);
  // For log shippers, the log line is one JSON object naming the alert, its fields the message.
  std::size_t lines = 0;
  std::istringstream err(run.err);
  for (std::string line; std::getline(err, line);) {
    if (line.find("\"kind\":\"alert\"") == std::string::npos) continue;
    const auto object = boost::json::parse(line).as_object();
    CHECK(object.at("node").as_string() == "throttled");
    CHECK(object.at("fields").at("rule").as_string() == "rate_limited");
    ++lines;
  }
  CHECK(lines == 2);
}

TEST_CASE("a cost alert pauses the run: no new request reaches the server, and it resolves once spending stops") {
  MockServer mock({"--latency-ms", "5"});
  TempDir dir;
  WebhookReceiver hook(dir);
  dir.write("in.jsonl", make_jsonl(5000));
  // $100 per million input tokens: some $0.001 a request, many times the rule's $0.02 a second.
  dir.write("graph.toml",
            openai_chat_graph(mock.base_url(),
                              "max_concurrency = 4\nprices = { m = { input = 100.0, output = 100.0 } }", "") +
                alert_table("spend", "cost", hook, "above = 0.02\npause = true"));
  const pid_t pid = start_flowbatch({"run", "graph.toml", "--listen", "127.0.0.1:0"}, dir.path());
  const std::string address = endpoint(dir);
  REQUIRE(eventually([&] { return !alert_messages(hook, "spend").empty(); }, std::chrono::seconds(20)));
  CHECK(alert_messages(hook, "spend")[0].at("paused").as_bool());
  // Requests under way finish; then the count at the server stands still.
  REQUIRE(eventually([&] { return mock.stats().at("in_flight").as_int64() == 0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::int64_t at_pause = mock_requests(mock);
  REQUIRE(eventually([&] { return alert_messages(hook, "spend").size() == 2; }, std::chrono::seconds(20)));
  CHECK(mock_requests(mock) == at_pause);  // over a second and a half: hundreds of requests were it not paused
  CHECK(perform(HttpCall{"GET", address + "/status", "", {}}).json().at("status") == "paused");
  REQUIRE(control(address, "/drain").status == 200);
  CHECK(wait_exit(pid) == 130);
  check_fired_and_resolved_once(alert_messages(hook, "spend"), "cost");
  CHECK(mock_requests(mock) == at_pause);
}

TEST_CASE("no progress while requests wait fires once, and resolves once records are done again") {
  MockServer mock({"--latency-ms", "5"});
  TempDir dir;
  WebhookReceiver hook(dir);
  dir.write("in.jsonl", make_jsonl(2000));
  dir.write("graph.toml", openai_chat_graph(mock.base_url(), "max_concurrency = 4", "") +
                              alert_table("stuck", "no_progress", hook, ""));
  // The run window opens in a few seconds: until then every item waits, in flight, doing nothing.
  const std::string window =
      fmt::format("pipeline.window={}-{} UTC", utc_clock(std::chrono::seconds(4)), utc_clock(std::chrono::hours(2)));
  const ProcessResult run = run_flowbatch({"run", "graph.toml", "--set", window}, dir.path());
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  const auto messages = alert_messages(hook, "stuck");
  check_fired_and_resolved_once(messages, "no_progress");
  CHECK(messages[0].at("unit").as_string() == "seconds");
  CHECK(messages[0].at("value").to_number<double>() >= 1.0);
}
