// Rate limits, retries and dead letters against real rate limiters on loopback: flowbatch-mock
// with server-side limits and faults, and nginx's limit_req (a limiter nobody here wrote).
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <fstream>
#include <regex>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"
#include "tests/support/nginx.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

std::string items_jsonl(int n, const std::string& text = "question") {
  std::string out;
  for (int i = 1; i <= n; ++i) out += fmt::format("{{\"id\": \"q{}\", \"text\": \"{} {}\"}}\n", i, text, i);
  return out;
}

int count_status(const boost::json::object& stats, const char* status) {
  const auto& by = stats.at("by_status").as_object();
  return by.contains(status) ? by.at(status).to_number<int>() : 0;
}

void check_each_once(const TempDir& dir, int n) {
  auto ids = count_ids(read_jsonl(dir / "out.jsonl"));
  for (const auto& [id, c] : count_ids(read_jsonl(dir / "dead.jsonl"))) ids[id] += c;
  for (int i = 1; i <= n; ++i) CHECK_MESSAGE(ids[fmt::format("q{}", i)] == 1, "q", i);
  CHECK(ids.size() == static_cast<std::size_t>(n));
}

/// 300 items through flowbatch (`provider_keys`, `args`) against flowbatch-mock limited by
/// `limit_flags` over a rolling 5 s: every item once, and not one request refused.
void check_none_refused(const std::vector<std::string>& limit_flags, const std::string& items,
                        const std::string& provider_keys, const std::vector<std::string>& args) {
  std::vector<std::string> flags = {"--rolling-window-seconds", "5", "--latency-ms", "5"};
  flags.insert(flags.end(), limit_flags.begin(), limit_flags.end());
  MockServer server(flags);
  TempDir dir;
  dir.write("in.jsonl", items);
  dir.write("g.toml",
            openai_chat_graph(server.base_url(), provider_keys + "\nmax_concurrency = 16", "max_attempts = 10"));
  std::vector<std::string> argv = {"g.toml"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_flowbatch(argv, dir.path());
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  check_each_once(dir, 300);
  const auto stats = server.stats();
  CHECK(stats.at("requests").to_number<int>() == 300);
  CHECK(count_status(stats, "429") == 0);
}

}  // namespace

TEST_CASE("under a server-side limit with every fault on, each item ends once and 429s stay rare") {
  // Faults on 35% of the attempts and two attempts each: about one item in eight fails twice.
  MockServer server({"--rpm", "3000", "--latency-ms", "10", "--error-rate", "0.3", "--reset-rate", "0.02",
                     "--malformed-rate", "0.02", "--hang-rate", "0.01", "--seed", "7"});
  TempDir dir;
  dir.write("in.jsonl", items_jsonl(200));
  dir.write("g.toml",
            openai_chat_graph(
                server.base_url(), "requests_per_minute = 3000\ntimeout_ms = 400\nmax_concurrency = 16",
                "max_attempts = 2\nretry_on = [\"rate_limit\", \"server\", \"timeout\", \"network\", \"malformed\"]"));
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE((r.exit_code == 0 || r.exit_code == 3), r.err);
  check_each_once(dir, 200);
  // A dead letter only holds an item that could not succeed: it used up its attempts.
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(!dead.empty());  // (0.35^2 of 200 items: none at all is a chance of 1 in 10^11)
  for (const auto& d : dead) CHECK(d.at("attempts").as_int64() == 2);
  const auto stats = server.stats();
  const int requests = stats.at("requests").to_number<int>();
  CHECK(requests >= 200);
  CHECK(count_status(stats, "429") * 100 <= requests * 2);  // no 429 storm: at most 2%
}

TEST_CASE("told more than the server allows, flowbatch settles at the server's limit from its headers") {
  MockServer server({"--rpm", "1200"});  // 20 a second
  TempDir dir;
  dir.write("in.jsonl", items_jsonl(120));
  dir.write("g.toml", openai_chat_graph(server.base_url(), "requests_per_minute = 6000", "max_attempts = 10"));
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  check_each_once(dir, 120);
  CHECK(r.err.find("requests/min settled at 1200") != std::string::npos);
  const auto stats = server.stats();
  CHECK(count_status(stats, "429") * 100 <= stats.at("requests").to_number<int>() * 5);
}

// A server counting the last S seconds (OpenAI counts the last 60) refuses any start-up burst: a
// client configured with its exact limit must pace from the first request. A 5 s window scaled
// from the per-minute limit is as strict as a 60 s one, and quick.
TEST_CASE("configured exactly at a rolling-window server's requests/min, no request is refused") {
  check_none_refused({"--rpm", "2400"}, items_jsonl(300), "requests_per_minute = 2400", {});  // 200 in any 5 s
}

TEST_CASE("configured exactly at a rolling-window server's tokens/min, no request is refused") {
  // 8 characters and max_tokens 8: 10 tokens a request, estimated as the server counts them.
  std::string items;
  for (int i = 1; i <= 300; ++i) items += fmt::format("{{\"id\": \"q{}\", \"text\": \"ask {:04}\"}}\n", i, i);
  check_none_refused({"--tpm", "24000"}, items, "tokens_per_minute = 24000",
                     {"--set", "calls.c.max_tokens=8"});  // 2,000 in any 5 s
}

TEST_CASE("with no limit configured, the limit the server announces is obeyed") {
  MockServer server({"--rpm", "1200"});
  TempDir dir;
  dir.write("in.jsonl", items_jsonl(100));
  dir.write("g.toml", openai_chat_graph(server.base_url(), "", "max_attempts = 10"));
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  check_each_once(dir, 100);
  const auto stats = server.stats();
  CHECK(count_status(stats, "429") * 100 <= stats.at("requests").to_number<int>() * 5);
}

TEST_CASE("adaptive concurrency settles near a queueing server's capacity") {
  MockServer server({"--capacity", "16", "--latency-ms", "40", "--latency-sigma", "0", "--threads", "2"});
  TempDir dir;
  dir.write("in.jsonl", items_jsonl(2500));
  dir.write("g.toml",
            openai_chat_graph(server.base_url(),
                              "max_concurrency = \"adaptive\"\ninitial_concurrency = 2\nmax_concurrency_limit = 512",
                              "max_attempts = 3"));
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  std::smatch m;
  REQUIRE(std::regex_search(r.err, m, std::regex(R"(adaptive concurrency ended at (\d+))")));
  const int limit = std::stoi(m[1]);
  CHECK(limit >= 8);
  CHECK(limit <= 48);  // far from the 512 it could have grown to
}

TEST_CASE("an invalid item in an embeddings batch is isolated by splitting, the rest succeed") {
  MockServer server;
  TempDir dir;
  std::string input = items_jsonl(7);
  input += "{\"id\": \"q8\", \"text\": \"   \"}\n";  // the API rejects an empty input: the whole request
  dir.write("in.jsonl", input);
  dir.write("g.toml", fmt::format(R"(
[providers.p]
type = "openai"
base_url = "{}"
api_key_env = ""
[sources.in]
path = "in.jsonl"
id_field = "id"
[batches.b]
inputs = ["in"]
max_items = 8
[calls.embed]
inputs = ["b"]
provider = "p"
endpoint = "embeddings"
model = "e"
prompt = "{{{{text}}}}"
[dead_letters.dead]
inputs = ["embed.error"]
path = "dead.jsonl"
[sinks.out]
inputs = ["embed"]
path = "out.jsonl"
)",
                                  server.base_url()));
  auto r = run_flowbatch({"g.toml", "--progress", "off"}, dir.path());
  CHECK(r.exit_code == 3);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 7);
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].at("id").as_string() == "q8");
  CHECK(dead[0].at("error").at("class").as_string() == "invalid_request");
  // 8 -> 4+4 -> 2+2 -> 1+1: seven requests find it.
  CHECK(server.stats().at("requests").to_number<int>() == 7);
}

TEST_CASE("behind nginx's limit_req (no rate headers, just 429s), every item still gets through") {
  if (Nginx::program().empty()) {
    MESSAGE("nginx is not installed (make deps installs it): skipped");
    return;
  }
  TempDir dir;
  const int port = free_port();
  const std::string canned =
      R"({"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}})";
  Nginx nginx(dir,
              fmt::format(R"(
  limit_req_zone $server_name zone=api:1m rate=20r/s;
  server {{
    listen 127.0.0.1:{0};
    location / {{
      limit_req zone=api burst=5 nodelay;
      limit_req_status 429;
      default_type application/json;
      return 200 '{1}';
    }}
  }})",
                          port, canned),
              {port});
  dir.write("in.jsonl", items_jsonl(150));
  dir.write("g.toml", openai_chat_graph(fmt::format("http://127.0.0.1:{}/v1", port), "max_concurrency = 16",
                                        "max_attempts = 30"));
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  check_each_once(dir, 150);
  // nginx logged every request: the 429s were a minority, not a storm.
  const std::string log = nginx.access_log();
  const auto lines = static_cast<int>(std::count(log.begin(), log.end(), '\n'));
  int too_many = 0;
  for (std::size_t pos = 0; (pos = log.find("\" 429 ", pos)) != std::string::npos; ++pos) ++too_many;
  CHECK(lines >= 150);
  CHECK(too_many * 100 <= lines * 40);
}
