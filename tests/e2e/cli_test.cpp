#include <doctest/doctest.h>

#include "tests/support/fixtures.h"

using namespace flowbatch::test;

TEST_CASE("validate exits 0 on a valid graph and 78 with every error listed") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(2));
  dir.write("good.toml", "[sources.in]\npath = \"in.jsonl\"\n[sinks.out]\ninputs = [\"in\"]\npath = \"out.jsonl\"\n");
  auto ok = run_flowbatch({"validate", (dir / "good.toml").string()});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("valid (3 nodes, 2 edges, 1 warning)") != std::string::npos);  // + the default dead letter

  dir.write(
      "bad.toml",
      "[sources.in]\npath = \"missing.jsonl\"\ncolor = 1\n[sinks.out]\ninputs = [\"inn\"]\npath = \"out.jsonl\"\n");
  auto bad = run_flowbatch({"validate", (dir / "bad.toml").string()});
  CHECK(bad.exit_code == 78);
  CHECK(bad.err.find("bad.toml:3:1: error: sources.in.color: unknown key") != std::string::npos);
  CHECK(bad.err.find("bad.toml:2:8: error: sources.in.path: cannot read") != std::string::npos);
  CHECK(bad.err.find("bad.toml:5:11: error: sinks.out.inputs: unknown node \"inn\" (did you mean \"in\"?)") !=
        std::string::npos);
  CHECK(bad.err.find("3 errors") != std::string::npos);
}

TEST_CASE("a broken TOML file names file:line:column") {
  TempDir dir;
  dir.write("broken.toml", "[pipeline]\nname = \"x\nmax_in_flight = 3\n");
  auto r = run_flowbatch({"validate", (dir / "broken.toml").string()});
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("broken.toml:2:") != std::string::npos);
  CHECK(r.err.find("invalid TOML") != std::string::npos);
}

TEST_CASE("a graph file alone runs it, --set overrides keys, exit codes tell the outcome") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(30));
  dir.write("other.jsonl", make_jsonl(5, "o"));
  dir.write(
      "g.toml",
      "[sources.in]\npath = \"in.jsonl\"\nid_field = \"id\"\n[sinks.out]\ninputs = [\"in\"]\npath = \"out.jsonl\"\n");
  auto run = run_flowbatch({(dir / "g.toml").string()}, dir.path());
  CHECK(run.exit_code == 0);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 30);
  CHECK(run.err.find("g: finished") != std::string::npos);

  auto with_set = run_flowbatch(
      {"run", "g.toml", "--fresh", "--set", "sources.in.path=other.jsonl", "--set", "pipeline.max_in_flight=3"},
      dir.path());
  CHECK(with_set.exit_code == 0);
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")).count("o5") == 1);

  auto bad_set = run_flowbatch({"run", "g.toml", "--fresh", "--set", "pipeline.max_in_flight=0"}, dir.path());
  CHECK(bad_set.exit_code == 78);
  CHECK(bad_set.err.find("pipeline.max_in_flight: must be at least 1") != std::string::npos);
}

TEST_CASE("graph prints DOT with ports on the edges, plugins lists every type") {
  auto dot = run_flowbatch({"graph", source_path("graphs/quickstart.toml").string()});
  CHECK(dot.exit_code == 0);
  CHECK(dot.out.find("digraph \"quickstart\"") != std::string::npos);
  CHECK(dot.out.find("\"classify\" -> \"retry_classify\" [label=\"error\"]") != std::string::npos);
  CHECK(dot.out.find("\"tickets\" -> \"failed\" [label=\"invalid\"]") != std::string::npos);

  auto types = run_flowbatch({"plugins"});
  CHECK(types.exit_code == 0);
  for (std::string name : {"[sources.NAME]", "[calls.NAME]", "jsonl", "csv", "stdout", "mock", "max_concurrency"})
    CHECK_MESSAGE(types.out.find(name) != std::string::npos, name);
}

TEST_CASE("the stdout sink writes JSON lines to standard output, progress stays on stderr") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(3));
  dir.write(
      "g.toml",
      "[sources.in]\npath = \"in.jsonl\"\n[sinks.out]\ninputs = [\"in\"]\ntype = \"stdout\"\nfields = [\"text\"]\n");
  auto r = run_flowbatch({"run", "g.toml", "--progress", "plain"}, dir.path());
  CHECK(r.exit_code == 0);
  CHECK(r.out ==
        "{\"id\":\"i1\",\"text\":\"item 1\"}\n{\"id\":\"i2\",\"text\":\"item 2\"}\n{\"id\":\"i3\",\"text\":\"item "
        "3\"}\n");
}
