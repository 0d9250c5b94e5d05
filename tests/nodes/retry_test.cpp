#include <doctest/doctest.h>

#include <fmt/format.h>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
std::string graph(const std::string& provider_keys, const std::string& retry_keys) {
  return fmt::format(R"(
[providers.sim]
type = "mock"
{}
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in", "r"]
provider = "sim"
prompt = "{{{{text}}}}"
[retries.r]
inputs = ["c.error"]
initial_backoff_ms = 1
max_backoff_ms = 5
{}
[dead_letters.dead]
inputs = ["r.exhausted"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     provider_keys, retry_keys);
}
}  // namespace

TEST_CASE("an item is tried max_attempts times in all, then exhausted") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(20));
  auto run = run_text(graph("failure_rate = 1.0", "max_attempts = 4"), dir);
  CHECK(run.report.requests == 80);
  CHECK(run.report.retries == 60);
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 20);
  for (const auto& r : dead) {
    CHECK(r.at("attempts").as_int64() == 4);
    CHECK(r.at("error_history").as_array().size() == 4);
  }
}

TEST_CASE("classes outside retry_on go straight to exhausted") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(10));
  auto run = run_text(graph("failure_rate = 1.0", "max_attempts = 5\nretry_on = [\"rate_limit\"]"), dir);
  CHECK(run.report.requests == 10);
  CHECK(run.report.retries == 0);
  CHECK(run.report.dead == 10);
}

TEST_CASE("max_elapsed_ms gives up once the item has been failing that long") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(10));
  // The first failure comes at once (retried); the second comes after the 100 ms Retry-After (given up).
  auto run =
      run_text(graph("rate_limit_rate = 1.0\nretry_after_ms = 100", "max_attempts = 10\nmax_elapsed_ms = 25"), dir);
  CHECK(run.report.dead == 10);
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 10);
  for (const auto& r : dead) CHECK(r.at("attempts").as_int64() == 2);
}

TEST_CASE("retry options are checked, error classes by name") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  auto r = compile_text(graph("",
                              "retry_on = [\"server\", \"ratelimit\"]\njitter = \"fulll\"\nmax_attempts = 0\n"
                              "multiplier = 0.5"),
                        dir);
  CHECK(!r.plan);
  const std::string all = r.diagnostics.str();
  CHECK(all.find("retries.r.retry_on: unknown value \"ratelimit\" (did you mean \"rate_limit\"?); each must be "
                 "rate_limit, ") != std::string::npos);
  CHECK(all.find("retries.r.jitter: must be full, equal or none (did you mean \"full\"?)") != std::string::npos);
  CHECK(all.find("retries.r.max_attempts: must be at least 1") != std::string::npos);
  CHECK(all.find("retries.r.multiplier: must be at least 1") != std::string::npos);
}
