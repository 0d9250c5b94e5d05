#include <doctest/doctest.h>

#include <fmt/format.h>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
/// Embedding calls send a whole batch in one request, so the request count is the batch count.
std::string graph(const std::string& batch_keys) {
  return fmt::format(R"(
[providers.sim]
type = "mock"
[sources.in]
path = "in.jsonl"
id_field = "id"
[batches.b]
inputs = ["in"]
{}
[calls.embed]
inputs = ["b"]
provider = "sim"
endpoint = "embeddings"
prompt = "{{{{text}}}}"
[sinks.out]
inputs = ["embed"]
path = "out.jsonl"
)",
                     batch_keys);
}

std::string grouped_input(int per_group) {
  std::string out;
  for (int i = 0; i < per_group; ++i) {
    out += fmt::format("{{\"id\": \"a{}\", \"g\": \"A\", \"text\": \"alpha {}\"}}\n", i, i);
    out += fmt::format("{{\"id\": \"b{}\", \"g\": \"B\", \"text\": \"beta {}\"}}\n", i, i);
  }
  return out;
}
}  // namespace

TEST_CASE("batches hold max_items items, and the last partial one leaves at end of input") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(23));
  auto run = run_text(graph("max_items = 5\ntimeout_ms = 3600000"), dir);
  CHECK(run.report.succeeded == 23);
  CHECK(run.report.requests == 5);  // 5+5+5+5+3
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 23);
  for (const auto& r : out) CHECK(r.at("output").as_array().size() == 8);
}

TEST_CASE("group_by keeps items of different keys in different batches") {
  TempDir dir;
  dir.write("in.jsonl", grouped_input(7));
  auto mixed = run_text(graph("max_items = 5"), dir);
  CHECK(mixed.report.requests == 3);  // 14 items, any mix: 5+5+4
  auto grouped = run_text(graph("max_items = 5\ngroup_by = \"g\""), dir);
  CHECK(grouped.report.requests == 4);  // A: 5+2, B: 5+2
  CHECK(grouped.report.succeeded == 14);
}

TEST_CASE("max_tokens closes a batch before it would exceed the estimate") {
  TempDir dir;
  std::string input;
  for (int i = 0; i < 10; ++i) input += fmt::format("{{\"id\": \"{}\", \"text\": \"{}\"}}\n", i, std::string(40, 'x'));
  dir.write("in.jsonl", input);
  // Each item is about 11 tokens (its id and text, four characters a token): two fit in 25.
  auto run = run_text(graph("max_items = 100\nmax_tokens = 25"), dir);
  CHECK(run.report.requests == 5);
  CHECK(run.report.succeeded == 10);
}

TEST_CASE("batch options are checked") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  auto r = compile_text(graph("max_items = 0\ntimeout_ms = -5\nmax_tokens = -1"), dir);
  CHECK(!r.plan);
  const std::string all = r.diagnostics.str();
  CHECK(all.find("batches.b.max_items: must be at least 1") != std::string::npos);
  CHECK(all.find("batches.b.timeout_ms: must be at least 1") != std::string::npos);
  CHECK(all.find("batches.b.max_tokens: must not be negative") != std::string::npos);
}
