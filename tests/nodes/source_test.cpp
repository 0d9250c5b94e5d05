#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
const char* kGraph = R"(
[sources.in]
type = "%TYPE%"
path = "%FILE%"
%ID%
[dead_letters.bad]
inputs = ["in.invalid"]
path = "bad.jsonl"
[sinks.out]
inputs = ["in"]
path = "out.jsonl"
)";

std::string graph(const std::string& type, const std::string& file, const std::string& id_line) {
  std::string g = kGraph;
  g.replace(g.find("%TYPE%"), 6, type);
  g.replace(g.find("%FILE%"), 6, file);
  g.replace(g.find("%ID%"), 4, id_line);
  return g;
}
}  // namespace

TEST_CASE("jsonl: bad lines go to the invalid port with their line number and reason — the run goes on") {
  TempDir dir;
  dir.write("in.jsonl",
            "{\"id\": \"a\", \"text\": \"x\"}\n"
            "not json\n"
            "\n"
            "[1, 2]\n"
            "{\"text\": \"no id\"}\n"
            "{\"id\": 7, \"text\": \"numeric id\"}\n"
            "{\"id\": {\"x\": 1}}\n"
            "{\"id\": \"b\"}");
  auto run = run_text(graph("jsonl", "in.jsonl", "id_field = \"id\""), dir);
  CHECK(run.report.succeeded == 3);
  CHECK(run.report.dead == 4);
  const auto records = read_jsonl(dir / "out.jsonl");
  const auto out = count_ids(records);
  CHECK(out.count("a") == 1);
  CHECK(out.count("b") == 1);
  // A numeric id is the item's id ("7") and stays a number in the data it came with.
  CHECK(std::count_if(records.begin(), records.end(), [](const auto& r) { return r.at("id") == 7; }) == 1);
  const auto bad = read_jsonl(dir / "bad.jsonl");
  REQUIRE(bad.size() == 4);
  std::map<std::int64_t, std::string> reasons;
  for (const auto& r : bad) {
    CHECK(r.at("error").at("class").as_string() == "invalid_input");
    CHECK(r.at("node").as_string() == "in");
    reasons[r.at("line").as_int64()] = std::string(r.at("error").at("message").as_string());
    CHECK(r.contains("raw"));
  }
  CHECK(reasons[2].find("line 2: not valid JSON") == 0);
  CHECK(reasons[4] == "line 4: expected a JSON object, found an array");
  CHECK(reasons[5] == "line 5: missing id field \"id\"");
  CHECK(reasons[7] == "line 7: id field \"id\" must be a string or an integer");
}

TEST_CASE("jsonl: without id_field, the line number is the id") {
  TempDir dir;
  dir.write("in.jsonl", "{\"t\": 1}\n\n{\"t\": 2}\n");
  auto run = run_text(graph("jsonl", "in.jsonl", ""), dir);
  const auto out = count_ids(read_jsonl(dir / "out.jsonl"));
  CHECK(out.count("1") == 1);
  CHECK(out.count("3") == 1);
}

TEST_CASE("csv: an unclosed quote early in a large file is one pass over it, not one per line") {
  // Each line once rescanned the whole record: 1,000,000 lines took minutes (ctest's time-out).
  TempDir dir;
  std::string text = "id,text\n1,\"never closed\n";
  for (int i = 0; i < 1000000; ++i) text += "x\n";
  dir.write("in.csv", text);
  auto run = run_text(graph("csv", "in.csv", "id_field = \"id\""), dir);
  CHECK(run.report.succeeded == 0);
  CHECK(run.report.dead == 1);
  const auto bad = read_jsonl(dir / "bad.jsonl");
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].at("line").as_int64() == 2);
  CHECK(bad[0].at("error").at("message").as_string() == "line 2: unclosed quote");
}

TEST_CASE("csv: quoted fields with delimiters, quotes and line breaks — ragged rows are invalid") {
  TempDir dir;
  dir.write("in.csv",
            "id,text,category\n"
            "1,\"hello, world\",billing\n"
            "2,\"she said \"\"hi\"\"\",shipping\n"
            "3,\"two\nlines\",technical\n"
            "4,too,many,fields\n"
            "5,plain,billing\n");
  auto run = run_text(graph("csv", "in.csv", "id_field = \"id\""), dir);
  CHECK(run.report.succeeded == 4);
  CHECK(run.report.dead == 1);
  std::map<std::string, boost::json::object> by_id;
  for (auto& r : read_jsonl(dir / "out.jsonl")) by_id[std::string(r.at("id").as_string())] = r;
  CHECK(by_id["1"].at("text").as_string() == "hello, world");
  CHECK(by_id["2"].at("text").as_string() == "she said \"hi\"");
  CHECK(by_id["3"].at("text").as_string() == "two\nlines");
  CHECK(by_id["5"].at("category").as_string() == "billing");
  const auto bad = read_jsonl(dir / "bad.jsonl");
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].at("line").as_int64() == 6);
  CHECK(bad[0].at("error").at("message").as_string() == "line 6: expected 3 fields (as in the header), found 4");
}

TEST_CASE(
    "jsonl, csv and openai_batch: a line over max_line_bytes is invalid, with its line number, and the rest is read") {
  TempDir dir;
  const std::string huge = "{\"id\": \"big\", \"text\": \"" + std::string(5000, 'x') + "\"}";
  dir.write("in.jsonl", "{\"id\": \"a\"}\n" + huge + "\n{\"id\": \"b\"}\n");
  dir.write("in.csv",
            "id,text\na,x\nbig," + std::string(5000, 'x') + "\nb,y\nc,\"open quote " + std::string(5000, 'q') + "\n");
  dir.write("in_batch.jsonl", "{\"custom_id\": \"big\", \"url\": \"/v1/chat/completions\", \"body\": {\"x\": \"" +
                                  std::string(5000, 'x') + "\"}}\n");
  struct Case {
    std::string type, file, id_line;
    int ok;
    std::vector<std::int64_t> bad_lines;
  };
  const std::vector<Case> cases = {{"jsonl", "in.jsonl", "id_field = \"id\"", 2, {2}},
                                   {"csv", "in.csv", "id_field = \"id\"", 2, {3, 5}},
                                   {"openai_batch", "in_batch.jsonl", "", 0, {1}}};
  REQUIRE(cases.size() == 3);
  for (const Case& c : cases) {
    CAPTURE(c.type);
    auto run = run_text(graph(c.type, c.file, c.id_line + "\nmax_line_bytes = 1000"), dir);
    CHECK(run.report.succeeded == static_cast<std::uint64_t>(c.ok));
    const auto bad = read_jsonl(dir / "bad.jsonl");
    REQUIRE(bad.size() == c.bad_lines.size());
    for (std::size_t i = 0; i < bad.size(); ++i) {
      CHECK(bad[i].at("line").as_int64() == c.bad_lines[i]);
      CHECK(bad[i].at("error").at("message").as_string() ==
            fmt::format("line {}: longer than max_line_bytes (1000 bytes); only its start is kept", c.bad_lines[i]));
      CHECK(bad[i].at("raw").as_string().size() <= 1000);
    }
    std::filesystem::remove(dir / "bad.jsonl");
    std::filesystem::remove(dir / "out.jsonl");
    std::filesystem::remove_all(dir / ".flowbatch");
  }
}

TEST_CASE("max_line_bytes must be at least 1") {
  TempDir dir;
  dir.write("in.jsonl", "{}\n");
  auto compiled = compile_text(graph("jsonl", "in.jsonl", "max_line_bytes = 0"), dir);
  CHECK(compiled.diagnostics.str().find("sources.in.max_line_bytes: must be at least 1") != std::string::npos);
}
