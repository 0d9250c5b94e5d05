// What a user reads when something is off: messages that say what happened, and exit codes that
// match the documentation.
#include <doctest/doctest.h>

#include "tests/support/fixtures.h"

using namespace flowbatch::test;

namespace {
const char* kMessagesGraph =
    "[sources.in]\npath = \"in.jsonl\"\nid_field = \"id\"\n"
    "[dead_letters.bad]\ninputs = [\"in.invalid\"]\npath = \"bad.jsonl\"\n"
    "[sinks.out]\ninputs = [\"in\"]\npath = \"out.jsonl\"\n";
}  // namespace

TEST_CASE("a byte order mark at the start of a graph or an input is accepted") {
  TempDir dir;
  dir.write("in.jsonl", "\xEF\xBB\xBF{\"id\": \"a\"}\n{\"id\": \"b\"}\n");
  dir.write("g.toml", std::string("\xEF\xBB\xBF") + kMessagesGraph);
  auto valid = run_flowbatch({"validate", "g.toml"}, dir.path());
  CHECK_MESSAGE(valid.exit_code == 0, valid.err);
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")) == std::map<std::string, int>{{"a", 1}, {"b", 1}});
}

TEST_CASE("a null id is reported as null, not as missing") {
  TempDir dir;
  dir.write("in.jsonl", "{\"id\": null}\n{\"text\": \"x\"}\n");
  dir.write("g.toml", kMessagesGraph);
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK(run.exit_code == 3);
  const auto bad = read_jsonl(dir / "bad.jsonl");
  REQUIRE(bad.size() == 2);
  CHECK(bad[0].at("error").at("message").as_string() == "line 1: the id field \"id\" is null");
  CHECK(bad[1].at("error").at("message").as_string() == "line 2: missing id field \"id\"");
}

TEST_CASE("a usage error exits with 64 (EX_USAGE), as documented") {
  auto unknown = run_flowbatch({"run", "--no-such-option", "g.toml"});
  CHECK(unknown.exit_code == 64);
  auto missing = run_flowbatch({"validate"});
  CHECK(missing.exit_code == 64);
  auto help = run_flowbatch({"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("\n  64   usage error") != std::string::npos);
}

TEST_CASE("a sink that cannot be opened fails the run: the summary says failed, not interrupted") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(5));
  dir.write("blocker", "a file where the sink wants a folder");
  std::string graph = kMessagesGraph;
  graph.replace(graph.find("path = \"out.jsonl\""), 18, "path = \"blocker/out.jsonl\"");
  dir.write("g.toml", graph);
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK(run.exit_code == 1);
  CHECK(run.err.find("g: failed in") != std::string::npos);
  CHECK(run.err.find("interrupted") == std::string::npos);
  CHECK(run.err.find("blocker") != std::string::npos);
}
