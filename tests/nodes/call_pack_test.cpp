// Packing several items into one request, against the in-process mock (an obedient model whose
// answer to an input is "mock reply <hash of model and input>", the same in any pack).
#include <doctest/doctest.h>

#include <fmt/format.h>

#include "engine/core/hash.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
std::string pack_graph(const std::string& provider_keys, const std::string& call_keys, int max_attempts = 6) {
  return fmt::format(R"(
[providers.sim]
type = "mock"
{}
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in", "again"]
provider = "sim"
system = "Answer briefly."
prompt = "{{{{text}}}}"
{}
[retries.again]
inputs = ["c.error"]
max_attempts = {}
initial_backoff_ms = 1
max_backoff_ms = 5
retry_on = ["malformed", "parse"]
[dead_letters.dead]
inputs = ["again.exhausted", "in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     provider_keys, call_keys, max_attempts);
}

/// What the mock answers `input` alone (model "" and seed 0).
std::string own_answer(std::string_view input) {
  return "mock reply " + hex16(hash_combine(stable_hash("", 0), stable_hash(input)));
}

void check_every_answer_is_its_own(const TempDir& dir, std::size_t expected) {
  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(out.size() == expected);
  std::set<std::string> ids;
  for (const auto& r : out) {
    ids.insert(std::string(r.at("id").as_string()));
    CHECK(r.at("output").as_string() == own_answer(r.at("text").as_string()));
  }
  CHECK(ids.size() == out.size());
}
}  // namespace

TEST_CASE("packed items each get their own answer, the same as alone") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(100));
  auto run = run_text(pack_graph("", "pack_max_items = 20"), dir);
  CHECK(run.report.succeeded == 100);
  check_every_answer_is_its_own(dir, 100);
  CHECK(run.report.summary.find("packed 100 items into 5 requests") != std::string::npos);
}

TEST_CASE("every item's answer is its own under dropped, doubled, foreign, shuffled and cut answers") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(300));
  auto run = run_text(pack_graph("pack_drop_rate = 0.3\npack_duplicate_rate = 0.3\npack_foreign_rate = 0.3\n"
                                 "pack_shuffle_rate = 1\npack_cut_rate = 0.1",
                                 "pack_max_items = 20", 12),
                      dir);
  CHECK(run.report.succeeded + run.report.dead == 300);
  CHECK(run.report.dead == 0);
  check_every_answer_is_its_own(dir, 300);
  CHECK(run.report.summary.find("sent again") != std::string::npos);
}

TEST_CASE("a poisoned item in a pack is isolated and dead-lettered alone, the rest of its pack answered") {
  TempDir dir;
  std::string input = make_jsonl(39);
  input += fmt::format("{{\"id\": \"poison\", \"text\": \"{}\"}}\n", std::string(5000, 'p'));
  dir.write("in.jsonl", input);
  auto run = run_text(pack_graph("max_prompt_chars = 4000", "pack_max_items = 40\npack_max_tokens = 100000"), dir);
  CHECK(run.report.succeeded == 39);
  CHECK(run.report.dead == 1);
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].at("id") == "poison");
  CHECK(dead[0].at("error").at("class") == "invalid_request");
  check_every_answer_is_its_own(dir, 39);
}

TEST_CASE("pack sizes follow pack_max_items and pack_max_tokens") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(40));
  auto by_items = run_text(pack_graph("", "pack_max_items = 8"), dir);
  CHECK(by_items.report.summary.find("packed 40 items into 5 requests") != std::string::npos);
  // Each item is about 10 tokens with its id: 30 tokens hold two or three.
  auto by_tokens = run_text(pack_graph("", "pack_max_items = 40\npack_max_tokens = 30"), dir);
  CHECK(by_tokens.report.summary.find("packed 40 items into 40 requests") == std::string::npos);
  CHECK(by_tokens.report.summary.find("packed 40 items into 5 requests") == std::string::npos);
  check_every_answer_is_its_own(dir, 40);
}

TEST_CASE("packing options are checked") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  auto bad = [&](const std::string& keys, const std::string& expected) {
    auto r = compile_text(pack_graph("", keys), dir);
    CHECK(!r.plan);
    CHECK_MESSAGE(r.diagnostics.str().find(expected) != std::string::npos, r.diagnostics.str());
  };
  bad("pack_max_items = 0", "pack_max_items");
  bad("pack_max_items = 5\nendpoint = \"embeddings\"", "packs chat prompts");
  bad("pack_max_items = 5\nresponse_format = { type = \"json_object\" }", "with packing, only a json_schema");
  bad("pack_max_tokens = 0", "pack_max_tokens");
}
