// `flowbatch run --log-format json` as a log shipper reads it: every line of stderr one JSON object.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <sstream>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

/// Each line of `text` parsed; a line that is not a JSON object fails the test.
std::vector<boost::json::object> parse_lines(const std::string& text) {
  std::vector<boost::json::object> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(line, ec);
    REQUIRE_MESSAGE((!ec && v.is_object()), "not a JSON object: ", line);
    for (const char* key : {"time", "level", "kind", "node", "message", "fields"})
      CHECK_MESSAGE(v.as_object().contains(key), key, " missing in ", line);
    lines.push_back(v.as_object());
  }
  return lines;
}

const boost::json::object* find_message(const std::vector<boost::json::object>& lines, std::string_view prefix) {
  for (const auto& l : lines)
    if (std::string_view(l.at("message").as_string()).starts_with(prefix)) return &l;
  return nullptr;
}

}  // namespace

TEST_CASE("--log-format json: progress, warnings and the summary are JSON lines with their numbers as fields") {
  MockServer mock({"--latency-ms", "5", "--max-prompt-chars", "300"});
  TempDir dir;
  ChatGraph graph;
  graph.base_url = mock.base_url();
  graph.pipeline = "progress_interval_ms = 100";
  dir.write("graph.toml", graph.toml());
  dir.write("in.jsonl", make_jsonl(300) + R"({"id":"long","text":")" + std::string(400, 'x') + "\"}\n");
  const ProcessResult run =
      run_flowbatch({"run", "graph.toml", "--log-format", "json", "--progress", "plain"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 3, run.err);  // the prompt too long for the server is in the dead letter
  const auto lines = parse_lines(run.err);
  const auto* summary = find_message(lines, "run summary");
  REQUIRE(summary != nullptr);
  CHECK(summary->at("node").as_string() == "graph");
  CHECK(summary->at("fields").at("status").as_string() == "finished");
  const auto* progress = find_message(lines, "progress:");
  REQUIRE(progress != nullptr);
  CHECK(progress->at("fields").as_object().contains("done"));
  CHECK(progress->at("fields").as_object().contains("in_flight"));
}

TEST_CASE("--log-format json: a broken graph's errors are JSON lines naming file, line, column and key") {
  TempDir dir;
  ChatGraph graph;
  graph.base_url = "http://127.0.0.1:9";
  graph.call = "max_tokenz = 5";
  dir.write("graph.toml", graph.toml());
  dir.write("in.jsonl", make_jsonl(1));
  const ProcessResult run = run_flowbatch({"run", "graph.toml", "--log-format", "json"}, dir.path());
  CHECK(run.exit_code == 78);
  const auto lines = parse_lines(run.err);
  REQUIRE(!lines.empty());
  const auto& error = lines.front();
  CHECK(error.at("level").as_string() == "error");
  CHECK(error.at("kind").as_string() == "config");
  const auto& where = error.at("fields").as_object();
  CHECK(where.at("key").as_string() == "calls.c.max_tokenz");
  CHECK(where.at("line").as_int64() > 0);
  CHECK(where.at("column").as_int64() > 0);
  CHECK(std::string(where.at("file").as_string()).ends_with("graph.toml"));
}
