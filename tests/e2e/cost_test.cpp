// Cost: packing several items into one request and the lasting response cache, through the built
// program against flowbatch-mock (OpenAI and Anthropic flavours) on loopback.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "engine/core/hash.h"
#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

const std::string kSystem =
    "Classify the support ticket as billing, shipping or technical. Billing: charges, refunds, invoices. Shipping: "
    "delivery, tracking, returns. Technical: errors, crashes, log-in problems. Answer with the label only.";

std::string graph(const std::string& type, const std::string& base_url, const std::string& call_keys,
                  const std::string& pipeline_keys = "") {
  return fmt::format(R"(
[pipeline]
progress = "off"
{}
[providers.p]
type = "{}"
base_url = "{}"
api_key_env = ""
max_concurrency = 8
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in", "r"]
provider = "p"
model = "m"
system = "{}"
prompt = "{{{{text}}}}"
{}
[retries.r]
inputs = ["c.error"]
max_attempts = 12
initial_backoff_ms = 1
max_backoff_ms = 20
retry_on = ["malformed", "parse", "server"]
[dead_letters.dead]
inputs = ["r.exhausted", "in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     pipeline_keys, type, base_url, kSystem, call_keys);
}

/// flowbatch-mock's answer to `input` asked alone.
std::string own_answer(std::string_view input) { return "mock reply " + hex16(stable_hash(input, 0)); }

void check_every_answer_is_its_own(const TempDir& dir, std::size_t expected) {
  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(out.size() == expected);
  for (const auto& r : out) CHECK(r.at("output").as_string() == own_answer(r.at("text").as_string()));
  CHECK(count_ids(out).size() == out.size());
}

boost::json::object report_of(const TempDir& dir) {
  return boost::json::parse(read_file(dir / "report.json")).as_object();
}

std::int64_t input_tokens(const TempDir& dir) {
  return report_of(dir).at("tokens").at("input").to_number<std::int64_t>();
}

}  // namespace

TEST_CASE("packed requests to an OpenAI-compatible server: every answer its own under every fault") {
  MockServer server({"--pack-drop-rate", "0.2", "--pack-duplicate-rate", "0.2", "--pack-foreign-rate", "0.2",
                     "--pack-shuffle-rate", "1", "--pack-cut-rate", "0.1"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(400));
  dir.write("g.toml", graph("openai", server.base_url(), "pack_max_items = 20"));
  auto run = run_flowbatch({"g.toml", "--report", "report.json"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  check_every_answer_is_its_own(dir, 400);
  const int requests = server.stats().at("requests").to_number<int>();
  CHECK(requests < 100);  // about 20 packs, and the ones sent again
  CHECK(report_of(dir).at("packing").at("sent_again").to_number<int>() > 0);
}

TEST_CASE("packed requests to an Anthropic-style server: the answer is prefilled and read back by id") {
  MockServer server({"--pack-drop-rate", "0.2", "--pack-shuffle-rate", "1"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(100));
  dir.write("g.toml", graph("anthropic", server.base_url(), "pack_max_items = 10\nmax_tokens = 50"));
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  check_every_answer_is_its_own(dir, 100);
}

TEST_CASE("packing 20 items a request uses far fewer input tokens than one request per item") {
  MockServer server;
  TempDir alone_dir, packed_dir;
  for (TempDir* d : {&alone_dir, &packed_dir}) d->write("in.jsonl", make_jsonl(200));
  alone_dir.write("g.toml", graph("openai", server.base_url(), ""));
  packed_dir.write("g.toml", graph("openai", server.base_url(), "pack_max_items = 20"));
  CHECK(run_flowbatch({"g.toml", "--report", "report.json"}, alone_dir.path()).exit_code == 0);
  CHECK(run_flowbatch({"g.toml", "--report", "report.json"}, packed_dir.path()).exit_code == 0);
  check_every_answer_is_its_own(packed_dir, 200);
  const auto alone = input_tokens(alone_dir), packed = input_tokens(packed_dir);
  INFO("input tokens alone ", alone, ", packed ", packed);
  CHECK(packed * 2 < alone);
  CHECK(report_of(packed_dir).at("tokens").at("pack_saved_input").to_number<std::int64_t>() > 0);
}

TEST_CASE("the response cache outlives --fresh: a packed re-run sends nothing, per item whatever the packs") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(120));
  dir.write("g.toml", graph("openai", server.base_url(), "pack_max_items = 20\ncache = true"));
  CHECK(run_flowbatch({"g.toml"}, dir.path()).exit_code == 0);
  const int first = server.stats().at("requests").to_number<int>();
  CHECK(first >= 6);

  // Other packs (10 a request, another order): each item is still found.
  dir.write("g.toml", graph("openai", server.base_url(), "pack_max_items = 10\ncache = true"));
  auto fresh = run_flowbatch({"g.toml", "--fresh", "--report", "report.json"}, dir.path());
  CHECK_MESSAGE(fresh.exit_code == 0, fresh.err);
  CHECK(server.stats().at("requests").to_number<int>() == first);
  check_every_answer_is_its_own(dir, 120);
  CHECK(fresh.err.find("answered 120 requests (or packed items) from the cache") != std::string::npos);
  CHECK(report_of(dir).at("tokens").at("cache_saved_input").to_number<std::int64_t>() > 0);

  auto stats = run_flowbatch({"cache", "stats", "g.toml"}, dir.path());
  CHECK(stats.exit_code == 0);
  CHECK(stats.out.find("120 answers") != std::string::npos);
  CHECK(stats.out.find("120 hits") != std::string::npos);
  auto prune = run_flowbatch({"cache", "prune", "--older-than", "30d", "g.toml"}, dir.path());
  CHECK(prune.exit_code == 0);
  CHECK(prune.out.find("removed 0 answers") != std::string::npos);
  CHECK(run_flowbatch({"cache", "prune", "--older-than", "soon", "g.toml"}, dir.path()).exit_code == 64);

  // pipeline.cache = "none": nothing kept, nothing found.
  dir.write("g.toml", graph("openai", server.base_url(), "pack_max_items = 10\ncache = true", "cache = \"none\""));
  CHECK(run_flowbatch({"g.toml", "--fresh"}, dir.path()).exit_code == 0);
  CHECK(server.stats().at("requests").to_number<int>() > first);
}

TEST_CASE("graphs naming one cache share it") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(30));
  dir.write("a.toml", graph("openai", server.base_url(), "cache = true", "cache = \"shared.db\""));
  dir.write("b.toml", graph("openai", server.base_url(), "cache = true", "cache = \"shared.db\""));
  CHECK(run_flowbatch({"a.toml"}, dir.path()).exit_code == 0);
  const int first = server.stats().at("requests").to_number<int>();
  CHECK(first == 30);
  std::filesystem::remove(dir / "out.jsonl");
  std::filesystem::remove(dir / "dead.jsonl");
  CHECK(run_flowbatch({"b.toml"}, dir.path()).exit_code == 0);
  CHECK(server.stats().at("requests").to_number<int>() == first);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 30);
}

namespace {
std::string two_calls(const std::string& base_url, const std::string& b_prompt, int concurrency) {
  return fmt::format(R"(
[pipeline]
progress = "off"
[providers.p]
type = "openai"
base_url = "{}"
api_key_env = ""
max_concurrency = {}
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.a]
inputs = ["in"]
provider = "p"
model = "m"
prompt = "first: {{{{text}}}}"
output_field = "a"
cache = true
[calls.b]
inputs = ["a"]
provider = "p"
model = "m"
prompt = "{}"
output_field = "b"
cache = true
[sinks.out]
inputs = ["b"]
path = "out.jsonl"
)",
                     base_url, concurrency, b_prompt);
}
}  // namespace

TEST_CASE("a changed prompt re-runs only that call: the state notices, the cache answers the rest") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(50));
  dir.write("g.toml", two_calls(server.base_url(), "second: {{a}}", 4));
  CHECK(run_flowbatch({"g.toml"}, dir.path()).exit_code == 0);
  CHECK(server.stats().at("requests").to_number<int>() == 100);

  // Speed settings are not results: nothing is redone.
  dir.write("g.toml", two_calls(server.base_url(), "second: {{a}}", 16));
  auto same = run_flowbatch({"g.toml"}, dir.path());
  CHECK(same.exit_code == 0);
  CHECK(same.err.find("changed since the last run") == std::string::npos);
  CHECK(server.stats().at("requests").to_number<int>() == 100);

  dir.write("g.toml", two_calls(server.base_url(), "second, reworded: {{a}}", 16));
  auto status = run_flowbatch({"status", "g.toml"}, dir.path());
  CHECK(status.out.find("the graph changed since: calls.b.prompt") != std::string::npos);
  auto validate = run_flowbatch({"validate", "g.toml"}, dir.path());
  CHECK(validate.exit_code == 0);
  CHECK(validate.out.find("note: calls.b.prompt changed since the state was written") != std::string::npos);
  auto changed = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(changed.exit_code == 0, changed.err);
  CHECK(changed.err.find("calls.b.prompt changed since the last run: starting over") != std::string::npos);
  CHECK(server.stats().at("requests").to_number<int>() == 150);  // only b's 50 requests were paid for
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 50);
  for (const auto& r : out) {
    const std::string a(r.at("a").as_string());
    CHECK(r.at("b").as_string() == own_answer("second, reworded: " + a));
  }
}
