// Plugin code that throws fails only the item (or request) it was about: the item lands at an
// error port and its dead letter with the exception's message, and the run goes on. The types
// come from tests/plugins/throwing_types.cpp, loaded as a real plugin.
#include <doctest/doctest.h>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

std::string plugins_line() {
  return "plugins = [\"" + (fs::path(FLOWBATCH_TEST_PLUGIN_DIR) / "throwing_types.so").string() + "\"]";
}

/// Dead letters by id.
std::map<std::string, boost::json::object> dead_by_id(const fs::path& file) {
  std::map<std::string, boost::json::object> out;
  for (auto& r : read_jsonl(file)) out[std::string(r.at("id").as_string())] = r;
  return out;
}

}  // namespace

TEST_CASE("a plugin source whose decode throws sends that record to invalid, with its line — the rest runs") {
  TempDir dir;
  dir.write("in.txt", "one\nboom\nthree\n");
  auto run = run_text("[pipeline]\n" + plugins_line() + R"(
[sources.in]
type = "throwing_lines"
path = "in.txt"
[dead_letters.dead]
inputs = ["in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["in"]
path = "out.jsonl"
)",
                      dir, {}, &plugin_registry());
  REQUIRE_MESSAGE(run.compiled.plan, run.compiled.diagnostics.str());
  CHECK(run.report.succeeded == 2);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 2);
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].at("line").as_int64() == 2);
  CHECK(dead[0].at("raw").as_string() == "boom");
  CHECK(dead[0].at("error").at("message").as_string() ==
        "line 2: the source could not decode it: the decoder exploded");
}

TEST_CASE("a plugin transform that throws sends the item to its error port with the message — the rest runs") {
  TempDir dir;
  dir.write(
      "in.jsonl",
      "{\"id\": \"a\", \"text\": \"fine\"}\n{\"id\": \"b\", \"text\": \"boom\"}\n{\"id\": \"c\", \"text\": \"ok\"}\n"
      "{\"id\": \"i\", \"text\": \"boom-int\"}\n");
  auto run = run_text("[pipeline]\n" + plugins_line() + R"(
[sources.in]
path = "in.jsonl"
id_field = "id"
[transforms.t]
type = "throwing"
inputs = ["in"]
[dead_letters.dead]
inputs = ["t.error"]
path = "dead.jsonl"
[sinks.out]
inputs = ["t"]
path = "out.jsonl"
)",
                      dir, {}, &plugin_registry());
  REQUIRE_MESSAGE(run.compiled.plan, run.compiled.diagnostics.str());
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")) == std::map<std::string, int>{{"a", 1}, {"c", 1}});
  auto dead = dead_by_id(dir / "dead.jsonl");
  REQUIRE(dead.size() == 2);
  CHECK(dead["i"].at("error").at("message").as_string() == "an exception that is not a std::exception");
  CHECK(dead["b"].at("node").as_string() == "t");
  CHECK(dead["b"].at("error").at("class").as_string() == "transform");
  CHECK(dead["b"].at("error").at("message").as_string() == "the transform exploded");
  CHECK(dead["b"].at("input").at("text").as_string() == "boom");
}

TEST_CASE("a plugin provider that throws fails only that request: dispatch as invalid_request, its work as server") {
  TempDir dir;
  dir.write("in.jsonl",
            "{\"id\": \"a\", \"text\": \"hello\"}\n{\"id\": \"d\", \"text\": \"boom-dispatch\"}\n"
            "{\"id\": \"w\", \"text\": \"boom-work\"}\n{\"id\": \"z\", \"text\": \"bye\"}\n"
            "{\"id\": \"n\", \"text\": \"boom-int\"}\n");
  auto run = run_text("[pipeline]\n" + plugins_line() + R"(
[providers.p]
type = "throwing"
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in", "again"]
provider = "p"
prompt = "{{text}}"
output_field = "answer"
[retries.again]
inputs = ["c.error"]
max_attempts = 2
initial_backoff_ms = 1
[dead_letters.dead]
inputs = ["again.exhausted"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                      dir, {}, &plugin_registry());
  REQUIRE_MESSAGE(run.compiled.plan, run.compiled.diagnostics.str());
  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(count_ids(out) == std::map<std::string, int>{{"a", 1}, {"z", 1}});
  for (const auto& r : out) CHECK(r.at("answer").as_string() == "ok:" + std::string(r.at("text").as_string()));
  auto dead = dead_by_id(dir / "dead.jsonl");
  REQUIRE(dead.size() == 3);
  CHECK(dead["n"].at("error").at("message").as_string() ==
        "the provider failed: an exception that is not a std::exception");
  CHECK(dead["d"].at("error").at("class").as_string() == "invalid_request");
  CHECK(dead["d"].at("error").at("message").as_string() == "dispatch exploded");
  CHECK(dead["d"].at("attempts").as_int64() == 1);  // invalid_request is not retried
  CHECK(dead["w"].at("error").at("class").as_string() == "server");
  CHECK(dead["w"].at("error").at("message").as_string() == "the provider failed: the work exploded");
  CHECK(dead["w"].at("attempts").as_int64() == 2);  // server failures are
}

TEST_CASE("a plugin type whose configure() throws is a configuration error at its node, not a crash") {
  TempDir dir;
  dir.write("in.jsonl", "{\"text\": \"x\"}\n");
  auto r = compile_text("[pipeline]\n" + plugins_line() + R"(
[sources.in]
path = "in.jsonl"
[transforms.t]
type = "unconfigurable"
inputs = ["in"]
[sinks.out]
inputs = ["t"]
path = "out.jsonl"
)",
                        dir, {}, &plugin_registry());
  CHECK(!r.plan);
  CHECK(r.diagnostics.str().find("graph.toml:5:13: error: transforms.t: the node failed to configure: no model file") !=
        std::string::npos);
}
