// Ways to lose, overwrite or mangle a user's data, each closed: undecodable input kept byte for
// byte, answers that never overwrite input fields, every written line valid UTF-8 JSON.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <sys/wait.h>

#include <thread>

#include "engine/core/text.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

/// Every line of the file is valid UTF-8 (read_jsonl also fails the test on a line that is not JSON).
std::vector<boost::json::object> read_utf8_jsonl(const std::filesystem::path& file) {
  const std::string text = read_file(file);
  CHECK_MESSAGE(is_valid_utf8(text), file.string() << " holds bytes that are not UTF-8");
  return read_jsonl(file);
}

}  // namespace

TEST_CASE("input that is not UTF-8 is dead-lettered as raw_base64, and replay restores it byte for byte") {
  TempDir dir;
  const std::string latin1_line = "{\"id\": \"b\", \"text\": \"caf\xE9\"}";
  const std::string csv_row = "c,\"na\xEFve\"";
  dir.write("in.jsonl", "{\"id\": \"a\", \"text\": \"fine \xC3\xA9\"}\n" + latin1_line + "\n");
  dir.write("in.csv", "id,text\n" + csv_row + "\nd,ok\n");
  dir.write("g.toml", R"(
[pipeline]
progress = "off"
[sources.lines]
path = "in.jsonl"
id_field = "id"
[sources.table]
type = "csv"
path = "in.csv"
id_field = "id"
[dead_letters.failed]
inputs = ["lines.invalid", "table.invalid"]
path = "failed.jsonl"
[sinks.out]
inputs = ["lines", "table"]
path = "out.jsonl"
)");
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 3, run.err);
  CHECK(count_ids(read_utf8_jsonl(dir / "out.jsonl")) == std::map<std::string, int>{{"a", 1}, {"d", 1}});
  const auto dead = read_utf8_jsonl(dir / "failed.jsonl");
  REQUIRE(dead.size() == 2);
  std::map<std::string, std::string> raw_by_source;
  for (const auto& d : dead) {
    CHECK(!d.contains("raw"));
    CHECK(d.at("error").at("message").as_string().find("not valid UTF-8") != std::string::npos);
    raw_by_source[std::string(d.at("source").as_string())] = std::string(d.at("raw_base64").as_string());
  }
  CHECK(base64_decode(raw_by_source.at("lines")) == latin1_line);
  CHECK(base64_decode(raw_by_source.at("table")) == csv_row);

  // Replayed, each record goes through its source's decoder again as the same bytes, fails the
  // same way, and lands in the new dead letter unchanged: not as a new, different record.
  auto replay = run_flowbatch({"replay", "failed.jsonl", "g.toml"}, dir.path());
  CHECK_MESSAGE(replay.exit_code == 3, replay.err);
  const auto again = read_utf8_jsonl(dir / "failed.jsonl");
  REQUIRE(again.size() == 2);
  for (const auto& d : again) {
    CHECK(d.at("error").at("message").as_string().find("not valid UTF-8") != std::string::npos);
    CHECK(d.at("raw_base64").as_string() == raw_by_source.at(std::string(d.at("source").as_string())));
  }
}

TEST_CASE("a template naming a field the item lacks: validate warns, the run sends nothing for it") {
  TempDir dir;
  dir.write(
      "in.jsonl",
      "{\"id\": \"a\", \"name\": \"Ann\"}\n{\"id\": \"b\", \"nmae\": \"Bob\"}\n{\"id\": \"c\", \"name\": \"Cy\"}\n");
  dir.write("g.toml", R"(
[pipeline]
progress = "off"
[providers.sim]
type = "mock"
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.greet]
inputs = ["in"]
provider = "sim"
prompt = "Say hello to {{name}}"
[dead_letters.failed]
inputs = ["greet.error", "in.invalid"]
path = "failed.jsonl"
[sinks.out]
inputs = ["greet"]
path = "out.jsonl"
)");
  auto validate = run_flowbatch({"validate", "g.toml"}, dir.path());
  CHECK(validate.exit_code == 0);
  CHECK_MESSAGE(
      validate.err.find("warning: calls.greet.prompt: names {{name}}, which 1 of the first 3 records of source "
                        "\"in\" lack") != std::string::npos,
      validate.err);

  auto run = run_flowbatch({"g.toml", "--report", "report.json"}, dir.path());
  CHECK(run.exit_code == 3);
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")) == std::map<std::string, int>{{"a", 1}, {"c", 1}});
  const auto dead = read_jsonl(dir / "failed.jsonl");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].at("id").as_string() == "b");
  CHECK(dead[0].at("error").at("class").as_string() == "invalid_input");
  CHECK(dead[0].at("error").at("message").as_string().find(
            "{{name}}, which this item does not have (its fields: id, nmae)") != std::string::npos);
  const auto report = boost::json::parse(read_file(dir / "report.json")).as_object();
  CHECK(report.at("requests").at("count").to_number<int>() == 2);  // nothing was sent for "b"
}

TEST_CASE("a re-run of a finished job exits 3 while its dead letter still holds items") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(10) + "{broken\n");
  dir.write("g.toml", R"(
[pipeline]
progress = "off"
[sources.in]
path = "in.jsonl"
id_field = "id"
[dead_letters.failed]
inputs = ["in.invalid"]
path = "failed.jsonl"
[sinks.out]
inputs = ["in"]
path = "out.jsonl"
)");
  CHECK(run_flowbatch({"g.toml"}, dir.path()).exit_code == 3);
  auto again = run_flowbatch({"g.toml"}, dir.path());  // nothing left to do, but the job is not clean
  CHECK_MESSAGE(again.exit_code == 3, again.err);
  CHECK(read_jsonl(dir / "failed.jsonl").size() == 1);
  dir.write("in.jsonl", make_jsonl(10));
  auto fresh = run_flowbatch({"g.toml", "--fresh"}, dir.path());  // the broken line is gone
  CHECK(fresh.exit_code == 0);
}

TEST_CASE("a second run of a running graph, or of another graph writing its output, is refused: exit 75, pid named") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(200));
  const std::string graph = R"(
[pipeline]
progress = "off"
[providers.slow]
type = "mock"
latency_ms = 100
latency_sigma = 0
max_concurrency = 20
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "slow"
prompt = "{{text}}"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)";
  dir.write("g.toml", graph);
  dir.write("other.toml", graph);  // another graph (its own state) writing the same output
  const pid_t first = start_flowbatch({"g.toml"}, dir.path());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // it holds its locks by now

  auto second = run_flowbatch({"g.toml"}, dir.path());
  CHECK(second.exit_code == 75);
  CHECK_MESSAGE(
      second.err.find("is in use by another flowbatch run (pid " + std::to_string(first) + ")") != std::string::npos,
      second.err);
  auto other = run_flowbatch({"other.toml"}, dir.path());
  CHECK(other.exit_code == 75);
  CHECK_MESSAGE(other.err.find("the output ") != std::string::npos, other.err);

  int status = 0;
  REQUIRE(::waitpid(first, &status, 0) == first);
  CHECK(WEXITSTATUS(status) == 0);
  const auto out = count_ids(read_jsonl(dir / "out.jsonl"));  // the first run's results, untouched and whole
  CHECK(out.size() == 200);
  for (const auto& [id, n] : out) CHECK_MESSAGE(n == 1, id);
}

TEST_CASE("duplicate ids in a source are processed, warned about with their lines, and counted in the summary") {
  TempDir dir;
  dir.write("in.jsonl", "{\"id\": \"a\"}\n{\"id\": \"b\"}\n{\"id\": \"a\"}\n{\"id\": \"c\"}\n{\"id\": \"a\"}\n");
  dir.write("g.toml",
            "[pipeline]\nprogress = \"off\"\n[sources.in]\npath = \"in.jsonl\"\nid_field = \"id\"\n"
            "[sinks.out]\ninputs = [\"in\"]\npath = \"out.jsonl\"\n");
  auto run = run_flowbatch({"g.toml", "--report", "report.json"}, dir.path());
  CHECK(run.exit_code == 0);
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")).at("a") == 3);  // every record is processed
  CHECK(run.err.find("line 3: id \"a\" was already used by an earlier record") != std::string::npos);
  CHECK(run.err.find("line 5: id \"a\" was already used") != std::string::npos);
  CHECK(run.err.find("duplicate ids: 2 records share an id") != std::string::npos);
  const auto report = boost::json::parse(read_file(dir / "report.json")).as_object();
  CHECK(report.at("records").at("duplicate_ids").to_number<int>() == 2);
}
