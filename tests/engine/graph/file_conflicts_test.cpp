// A graph that would overwrite its input, write two outputs into one file or name an empty path is
// refused before anything runs, at the key that causes it.
#include <doctest/doctest.h>
#include <unistd.h>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

const char* kGraph = R"(
[providers.sim]
type = "mock"
[sources.tickets]
path = "in.jsonl"
id_field = "id"
[calls.classify]
inputs = ["tickets"]
provider = "sim"
prompt = "{{text}}"
[dead_letters.failed]
inputs = ["classify.error", "tickets.invalid"]
path = "out/failed.jsonl"
[sinks.results]
inputs = ["classify"]
path = "out/results.jsonl"
)";

CompileResult compile(TempDir& dir, const std::vector<std::string>& overrides) {
  dir.write("in.jsonl", make_jsonl(3));
  return compile_text(kGraph, dir, overrides);
}

bool has(const CompileResult& r, const std::string& needle) {
  const bool found = r.diagnostics.str().find(needle) != std::string::npos;
  if (!found) MESSAGE("diagnostics were:\n" << r.diagnostics.str());
  return found;
}

}  // namespace

TEST_CASE("the shipped shape compiles: every output has a file of its own") {
  TempDir dir;
  auto r = compile(dir, {});
  CHECK_MESSAGE(r.plan, r.diagnostics.str());
}

TEST_CASE("a sink writing the source's file is refused at the sink's key, naming the source") {
  TempDir dir;
  auto r = compile(dir, {"sinks.results.path=" + (dir / "in.jsonl").string()});
  CHECK(!r.plan);
  CHECK(has(r, "error: sinks.results.path: sink \"results\" writes"));
  CHECK(has(r, "and source \"tickets\" reads it (sources.tickets.path at " + (dir / "graph.toml").string() + ":5:8)"));
}

TEST_CASE("the same file reached another way is still the same file: '..', a symlink, a hard link") {
  TempDir dir;
  std::filesystem::create_directories(dir / "sub");
  SUBCASE("dot-dot") {
    auto r = compile(dir, {"sinks.results.path=" + (dir / "sub" / ".." / "in.jsonl").string()});
    CHECK(has(r, "source \"tickets\" reads it"));
  }
  SUBCASE("a symlink to the input") {
    dir.write("in.jsonl", "{}\n");
    std::filesystem::create_symlink(dir / "in.jsonl", dir / "link.jsonl");
    auto r = compile(dir, {"sinks.results.path=" + (dir / "link.jsonl").string()});
    CHECK(has(r, "source \"tickets\" reads it"));
  }
  SUBCASE("a hard link to the input") {
    dir.write("in.jsonl", "{}\n");
    REQUIRE(::link((dir / "in.jsonl").c_str(), (dir / "hard.jsonl").c_str()) == 0);
    auto r = compile(dir, {"sinks.results.path=" + (dir / "hard.jsonl").string()});
    CHECK(has(r, "source \"tickets\" reads it"));
  }
}

TEST_CASE("a dead letter and a sink on one file are refused, reported once") {
  TempDir dir;
  auto r = compile(dir, {"dead_letters.failed.path=" + (dir / "out" / "results.jsonl").string()});
  CHECK(!r.plan);
  CHECK(r.diagnostics.error_count() == 1);
  CHECK(has(r, "and sink \"results\" also writes it"));
}

TEST_CASE("an output on the run's state, or on the graph file itself, is refused") {
  TempDir dir;
  auto state = compile(dir, {"sinks.results.path=" + (dir / ".flowbatch" / "graph.db-wal").string()});
  CHECK(has(state, "and the run's state also writes it (pipeline.state"));
  auto graph = compile(dir, {"sinks.results.path=" + (dir / "graph.toml").string()});
  CHECK(has(graph, "and the graph file reads it"));
}

TEST_CASE("an empty path is a config error at the key, in the file and from --set") {
  TempDir dir;
  auto from_set = compile(dir, {"sinks.results.path="});
  CHECK(!from_set.plan);
  CHECK(has(from_set, "--set sinks.results.path=: error: sinks.results.path: must name a file (the path is empty)"));
  dir.write("in.jsonl", make_jsonl(3));
  std::string text = kGraph;
  text.replace(text.find("\"out/failed.jsonl\""), 18, "\"\"");
  auto in_file = compile_text(text, dir);
  CHECK(!in_file.plan);
  CHECK(has(in_file, "graph.toml:13:8: error: dead_letters.failed.path: must name a file (the path is empty)"));
}
