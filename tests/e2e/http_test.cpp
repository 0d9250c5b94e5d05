// Pipelines calling real HTTP APIs: flowbatch (real libcurl) against flowbatch-mock on loopback.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <set>

#include "engine/core/hash.h"
#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
/// What flowbatch-mock answers to a last user message `text`.
std::string mock_reply(const std::string& text) { return "mock reply " + hex16(stable_hash(text, 0)); }

std::string tickets_jsonl(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) out += fmt::format("{{\"id\": \"t{}\", \"text\": \"ticket number {}\"}}\n", i, i);
  return out;
}

std::string chat_graph(const std::string& provider_toml, const std::string& call_extra = "",
                       const std::string& retry = "max_attempts = 1") {
  return fmt::format(R"(
[pipeline]
progress = "off"
{}
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in", "r"]
provider = "p"
model = "test-model"
system = "You are a test."
prompt = "Q: {{{{text}}}}"
{}
[retries.r]
inputs = ["c.error"]
initial_backoff_ms = 1
{}
[dead_letters.dead]
inputs = ["r.exhausted", "in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     provider_toml, call_extra, retry);
}

std::string openai(const MockServer& s, const std::string& extra = "") {
  return fmt::format("[providers.p]\ntype = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"FLOWBATCH_E2E_KEY\"\n{}\n",
                     s.base_url(), extra);
}
}  // namespace

TEST_CASE("openai: templated calls through real HTTP, each answer belonging to its item") {
  ::setenv("FLOWBATCH_E2E_KEY", "sk-e2e-test-key-000111", 1);
  MockServer server({"--latency-ms", "5"});
  TempDir dir;
  dir.write("in.jsonl", tickets_jsonl(300));
  dir.write("g.toml", chat_graph(openai(server, "max_concurrency = 32")));
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 300);
  for (const auto& o : out) {
    const std::string text(o.at("text").as_string());
    CHECK(o.at("output").as_string() == mock_reply("Q: " + text));
  }
  const auto stats = server.stats();
  CHECK(stats.at("requests").to_number<int>() == 300);
  // Keep-alive: 300 requests, 32 at a time, over about as many connections, not 300.
  CHECK(stats.at("connections").to_number<int>() <= 40);
}

TEST_CASE("anthropic: templated calls through real HTTP") {
  ::setenv("FLOWBATCH_E2E_KEY", "sk-e2e-test-key-000111", 1);
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", tickets_jsonl(50));
  dir.write("g.toml",
            chat_graph(fmt::format(
                "[providers.p]\ntype = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"FLOWBATCH_E2E_KEY\"\n",
                server.base_url())));
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 50);
  for (const auto& o : out)
    CHECK(o.at("output").as_string() == mock_reply("Q: " + std::string(o.at("text").as_string())));
  CHECK(server.stats().at("by_route").at("/v1/messages").to_number<int>() == 50);
}

TEST_CASE("openai_batch lines in, Batch API output lines out: every custom_id once, each answer its own") {
  ::setenv("FLOWBATCH_E2E_KEY", "sk-e2e-test-key-000111", 1);
  MockServer server;
  TempDir dir;
  std::string lines;
  for (int i = 1; i <= 120; ++i)
    lines += fmt::format(
        R"({{"custom_id": "req-{}", "method": "POST", "url": "/v1/chat/completions", "body": {{"model": "m", "messages": [{{"role": "user", "content": "question {}"}}]}}}})"
        "\n",
        i, i);
  lines += R"({"custom_id": "bad", "method": "GET", "url": "/v1/chat/completions", "body": {}})"
           "\n";
  dir.write("batch.jsonl", lines);
  dir.write("g.toml", fmt::format(R"(
[providers.openai]
type = "openai"
base_url = "{}"
api_key_env = "FLOWBATCH_E2E_KEY"
[sources.requests]
type = "openai_batch"
path = "batch.jsonl"
[calls.chat]
inputs = ["requests"]
provider = "openai"
[dead_letters.errors]
inputs = ["chat.error", "requests.invalid"]
format = "openai_batch"
path = "errors.jsonl"
[sinks.out]
inputs = ["chat"]
type = "openai_batch"
path = "output.jsonl"
)",
                                  server.base_url()));
  auto r = run_flowbatch({"g.toml", "--progress", "off"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 3, r.err);  // the GET line is rejected, the rest answered
  const auto output = read_jsonl(dir / "output.jsonl");
  REQUIRE(output.size() == 120);
  std::set<std::string> ids;
  for (const auto& line : output) {
    const std::string custom_id(line.at("custom_id").as_string());
    CHECK(ids.insert(custom_id).second);
    CHECK(line.at("id").as_string().starts_with("batch_req_"));
    CHECK(line.at("error").is_null());
    const auto& response = line.at("response").as_object();
    CHECK(response.at("status_code").as_int64() == 200);
    CHECK(response.at("request_id").as_string().starts_with("req_"));
    const std::string n = custom_id.substr(4);
    CHECK(response.at("body").at("choices").at(0).at("message").at("content").as_string() ==
          mock_reply("question " + n));
  }
  const auto errors = read_jsonl(dir / "errors.jsonl");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("custom_id").as_string() == "bad");
  CHECK(errors[0].at("error").at("code").as_string() == "invalid_input");
}

TEST_CASE("embeddings send a whole batch in one request") {
  ::setenv("FLOWBATCH_E2E_KEY", "sk-e2e-test-key-000111", 1);
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", tickets_jsonl(100));
  dir.write("g.toml", fmt::format(R"(
[providers.p]
type = "openai"
base_url = "{}"
api_key_env = "FLOWBATCH_E2E_KEY"
[sources.in]
path = "in.jsonl"
id_field = "id"
[batches.b]
inputs = ["in"]
max_items = 25
[calls.embed]
inputs = ["b"]
provider = "p"
endpoint = "embeddings"
model = "emb"
prompt = "{{{{text}}}}"
[sinks.out]
inputs = ["embed"]
path = "out.jsonl"
)",
                                  server.base_url()));
  auto r = run_flowbatch({"g.toml", "--progress", "off"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 100);
  CHECK(server.stats().at("by_route").at("/v1/embeddings").to_number<int>() == 4);
}

TEST_CASE("every error class comes from the right fault, classified") {
  ::setenv("FLOWBATCH_E2E_KEY", "sk-e2e-test-key-000111", 1);
  struct Case {
    std::vector<std::string> server_flags;
    std::string provider_extra;
    std::string input;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--error-rate", "1"}, "", "", "server"},
      {{"--reset-rate", "1"}, "", "", "network"},
      {{"--hang-rate", "1"}, "timeout_ms = 300", "", "timeout"},
      {{"--malformed-rate", "1"}, "", "", "malformed"},
      {{"--rpm", "60"}, "", "", "rate_limit"},
      {{"--max-prompt-chars", "10"}, "", "", "invalid_request"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.expected);
    MockServer server(c.server_flags);
    TempDir dir;
    dir.write("in.jsonl", c.input.empty() ? tickets_jsonl(5) : c.input);
    dir.write("g.toml", chat_graph(openai(server, c.provider_extra)));
    auto r = run_flowbatch({"g.toml"}, dir.path());
    CHECK_MESSAGE(r.exit_code == 3, r.err);
    const auto dead = read_jsonl(dir / "dead.jsonl");
    REQUIRE(!dead.empty());
    bool seen = false;
    for (const auto& d : dead) seen = seen || d.at("error").at("class").as_string() == c.expected;
    CHECK_MESSAGE(seen, "no dead letter of class ", c.expected, " in ", read_file(dir / "dead.jsonl"));
  }
}

TEST_CASE(
    "broken answers are retried: with 5xx, resets and truncated 200s, only the poisoned items are dead-lettered") {
  ::setenv("FLOWBATCH_E2E_KEY", "sk-e2e-test-key-000111", 1);
  // 2% 5xx, 1% resets, 1% answers that are 200 OK with a truncated JSON body and 0.5% cut short of
  // their Content-Length. Ten items are too long for the server (400, invalid_request): those,
  // and only those, may end in the dead letter.
  MockServer server({"--error-rate", "0.02", "--reset-rate", "0.01", "--malformed-rate", "0.01", "--truncate-rate",
                     "0.005", "--max-prompt-chars", "200", "--seed", "11"});
  TempDir dir;
  std::string input;
  std::set<std::string> poisoned;
  for (int i = 1; i <= 2000; ++i) {
    const bool too_long = i % 200 == 0;
    if (too_long) poisoned.insert(fmt::format("t{}", i));
    input += fmt::format("{{\"id\": \"t{}\", \"text\": \"{}\"}}\n", i,
                         too_long ? std::string(300, 'x') : fmt::format("ticket {}", i));
  }
  dir.write("in.jsonl", input);
  // The default retry_on; six attempts make an item unlucky four times in a row (4% each) a
  // chance of 1 in 10^8 over the run, so a dead-lettered good item means a misclassified fault.
  dir.write("g.toml", chat_graph(openai(server, "max_concurrency = 32"), "", "max_attempts = 6"));
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 3, r.err);
  const auto stats = server.stats();
  REQUIRE(stats.at("faults").at("malformed").to_number<int>() >= 5);  // the faults really happened
  REQUIRE(stats.at("faults").at("truncated").to_number<int>() >= 2);
  const auto dead = read_jsonl(dir / "dead.jsonl");
  std::set<std::string> dead_ids;
  for (const auto& d : dead) {
    dead_ids.insert(std::string(d.at("id").as_string()));
    CHECK(d.at("error").at("class").as_string() == "invalid_request");
    // The server's faults come before it reads the request, so a poisoned item may have met one
    // first; it is never sent again after the 400 itself.
    const auto& history = d.at("error_history").as_array();
    REQUIRE(!history.empty());
    CHECK(history.back().as_string() == "invalid_request");
    CHECK(static_cast<std::int64_t>(history.size()) == d.at("attempts").as_int64());
    for (std::size_t i = 0; i + 1 < history.size(); ++i) CHECK(history[i].as_string() != "invalid_request");
  }
  CHECK(dead_ids == poisoned);
  const auto out = count_ids(read_jsonl(dir / "out.jsonl"));
  CHECK(out.size() == 1990);
  for (const auto& [id, n] : out) CHECK_MESSAGE(n == 1, id);
  // A truncated answer or a reset is not an answer: retrying them answers nothing twice.
  CHECK(stats.at("repeated_answers").to_number<int>() == 0);
}

TEST_CASE("an answer cut short on the wire is a network failure, retried on a new connection") {
  ::setenv("FLOWBATCH_E2E_KEY", "sk-e2e-test-key-000111", 1);
  MockServer server({"--truncate-rate", "0.3", "--seed", "5"});
  TempDir dir;
  dir.write("in.jsonl", tickets_jsonl(30));
  dir.write("g.toml", chat_graph(openai(server, "max_concurrency = 1"), "", "max_attempts = 20"));
  // The server counts every connection, its start-up probe and each /stats request included.
  const int before = server.stats().at("connections").to_number<int>();
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  const auto out = count_ids(read_jsonl(dir / "out.jsonl"));
  CHECK(out.size() == 30);
  for (const auto& [id, n] : out) CHECK_MESSAGE(n == 1, id);
  const auto stats = server.stats();
  const int truncated = stats.at("faults").at("truncated").to_number<int>();
  REQUIRE(truncated >= 3);
  // One request at a time on a kept-alive connection: each cut answer costs exactly one connection.
  const int made_by_flowbatch = stats.at("connections").to_number<int>() - before - 1;
  CHECK(made_by_flowbatch == truncated + 1);
  CHECK(stats.at("repeated_answers").to_number<int>() == 0);
}

TEST_CASE("an exhausted quota stops the run as resumable: nothing dead-lettered, exit 75") {
  ::setenv("FLOWBATCH_E2E_KEY", "sk-e2e-test-key-000111", 1);
  MockServer server({"--quota-rate", "1"});
  TempDir dir;
  dir.write("in.jsonl", tickets_jsonl(50));
  dir.write("g.toml", chat_graph(openai(server, "max_concurrency = 2"), "", "max_attempts = 5"));
  auto r = run_flowbatch({"g.toml", "--report", "report.json"}, dir.path());
  CHECK(r.exit_code == 75);
  CHECK(r.err.find("quota or credit exhausted") != std::string::npos);
  CHECK(r.err.find("run the same command to go on") != std::string::npos);
  CHECK(read_jsonl(dir / "dead.jsonl").empty());  // out of credit is not the items' fault
  const auto report = boost::json::parse(read_file(dir / "report.json")).as_object();
  CHECK(report.at("status").as_string() == "stopped");
  CHECK(report.at("items").at("unfinished").to_number<int>() == 50);
  // Dispatching stopped: far fewer requests than items were sent.
  CHECK(server.stats().at("requests").to_number<int>() <= 4);
}

TEST_CASE("an API key never appears in any output, log line, report or graph dump") {
  const std::string key = "sk-live-SECRET-do-not-print-314159";
  ::setenv("FLOWBATCH_E2E_KEY", key.c_str(), 1);
  // The server refuses the key and, like OpenAI, echoes it in its error message.
  MockServer server({"--api-key", "another-key-entirely"});
  TempDir dir;
  dir.write("in.jsonl", tickets_jsonl(3));
  dir.write("g.toml", chat_graph(openai(server)));
  auto run = run_flowbatch({"g.toml", "--report", "report.json", "--progress", "plain"}, dir.path());
  auto dot = run_flowbatch({"graph", "g.toml"}, dir.path());
  auto validate = run_flowbatch({"validate", "g.toml"}, dir.path());
  CHECK(run.exit_code == 75);                              // a refused key stops the run
  CHECK(run.err.find("[REDACTED]") != std::string::npos);  // the echo was in the message, and was blanked
  const std::string dead = std::filesystem::exists(dir / "dead.jsonl") ? read_file(dir / "dead.jsonl") : "";
  const std::string report = read_file(dir / "report.json");
  CHECK(!report.empty());  // else the loop below would check nothing for it
  CHECK(!dot.out.empty());
  for (const std::string& text :
       {run.out, run.err, dot.out, dot.err, validate.out, validate.err, dead, report, read_file(dir / "out.jsonl")})
    CHECK(text.find(key) == std::string::npos);
}

TEST_CASE("max_concurrency holds across every call node sharing a provider, as the server sees it") {
  ::setenv("FLOWBATCH_E2E_KEY", "sk-e2e-test-key-000111", 1);
  MockServer server({"--latency-ms", "30", "--latency-sigma", "0"});
  TempDir dir;
  dir.write("in.jsonl", tickets_jsonl(200));
  dir.write("g.toml", fmt::format(R"(
[providers.p]
type = "openai"
base_url = "{}"
api_key_env = "FLOWBATCH_E2E_KEY"
max_concurrency = 4
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.first]
inputs = ["in"]
provider = "p"
prompt = "first {{{{text}}}}"
output_field = "a"
[calls.second]
inputs = ["first"]
provider = "p"
prompt = "second {{{{text}}}}"
output_field = "b"
[sinks.out]
inputs = ["second"]
path = "out.jsonl"
)",
                                  server.base_url()));
  auto r = run_flowbatch({"g.toml", "--progress", "off"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  const auto stats = server.stats();
  CHECK(stats.at("requests").to_number<int>() == 400);
  CHECK(stats.at("peak_concurrency").to_number<int>() <= 4);
  CHECK(stats.at("peak_concurrency").to_number<int>() >= 2);  // and the budget is used
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 200);
  for (const auto& o : out) {
    const std::string text(o.at("text").as_string());
    CHECK(o.at("a").as_string() == mock_reply("first " + text));
    CHECK(o.at("b").as_string() == mock_reply("second " + text));
  }
}

TEST_CASE("an HTTP failure's record keeps the status, the API's message and the request id") {
  ::setenv("FLOWBATCH_E2E_KEY", "sk-e2e-test-key-000111", 1);
  MockServer server({"--error-rate", "1"});
  TempDir dir;
  dir.write("in.jsonl", tickets_jsonl(3));
  dir.write("g.toml", chat_graph(openai(server)));
  run_flowbatch({"g.toml"}, dir.path());
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 3);
  for (const auto& d : dead) {
    const auto& e = d.at("error").as_object();
    CHECK(e.at("http_status").as_int64() >= 500);
    CHECK(e.at("message").as_string().starts_with("HTTP 5"));
    CHECK(e.at("request_id").as_string().starts_with("req_"));
  }
}
