#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

const char* kValid = R"(
[pipeline]
name = "t"

[providers.sim]
type = "mock"

[sources.tickets]
path = "in.jsonl"
id_field = "id"

[batches.b]
inputs = ["tickets"]
max_items = 5

[calls.classify]
inputs = ["b", "again"]
provider = "sim"
prompt = "{{text}}"

[retries.again]
inputs = ["classify.error"]

[dead_letters.failed]
inputs = ["again.exhausted", "tickets.invalid"]
path = "out/failed.jsonl"

[sinks.results]
inputs = ["classify"]
path = "out/results.jsonl"
)";

CompileResult compile(const std::string& toml, TempDir& dir) {
  dir.write("in.jsonl", make_jsonl(3));
  return compile_text(toml, dir);
}

bool has(const Diagnostics& d, const std::string& needle) { return d.str().find(needle) != std::string::npos; }

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  REQUIRE_MESSAGE(pos != std::string::npos, from);
  return text.replace(pos, from.size(), to);
}

}  // namespace

TEST_CASE("a valid graph compiles into nodes and resolved edges") {
  TempDir dir;
  CompileResult r = compile(kValid, dir);
  REQUIRE_MESSAGE(r.plan, r.diagnostics.str());
  CHECK(r.diagnostics.items().empty());
  CHECK(r.plan->nodes.size() == 6);
  CHECK(r.plan->edges.size() == 7);
  CHECK(r.plan->pipeline.name == "t");
  CHECK(r.plan->providers.size() == 1);
}

TEST_CASE("unknown keys get a did-you-mean with file:line:column") {
  TempDir dir;
  CompileResult r = compile(replace(kValid, "max_items = 5", "max_itmes = 5"), dir);
  CHECK(!r.plan);
  CHECK(has(r.diagnostics, "graph.toml:14:1: error: batches.b.max_itmes: unknown key (did you mean \"max_items\"?)"));
}

TEST_CASE("unknown tables get a did-you-mean") {
  TempDir dir;
  CompileResult r = compile(std::string(kValid) + "\n[sink.extra]\npath = \"x\"\n", dir);
  CHECK(has(r.diagnostics, "error: sink: unknown table (did you mean \"sinks\"?)"));
}

TEST_CASE("wrong types and missing required keys") {
  TempDir dir;
  std::string toml = replace(kValid, "max_items = 5", "max_items = \"five\"");
  toml = replace(toml, "provider = \"sim\"\n", "");
  CompileResult r = compile(toml, dir);
  CHECK(has(r.diagnostics, "batches.b.max_items: expected an integer, found string"));
  CHECK(has(r.diagnostics, "calls.classify.provider: missing required key"));
}

TEST_CASE("unknown nodes and ports in inputs") {
  TempDir dir;
  std::string toml = replace(kValid, "inputs = [\"b\", \"again\"]", "inputs = [\"bb\", \"again\"]");
  toml = replace(toml, "inputs = [\"classify.error\"]", "inputs = [\"classify.eror\"]");
  CompileResult r = compile(toml, dir);
  CHECK(has(r.diagnostics, "calls.classify.inputs: unknown node \"bb\" (did you mean \"b\"?)"));
  CHECK(has(r.diagnostics,
            "retries.again.inputs: call \"classify\" has no port \"eror\" (did you mean \"classify.error\"?)"));
}

TEST_CASE("a port fed to a node that cannot take it") {
  TempDir dir;
  CompileResult r = compile(replace(kValid, "inputs = [\"classify\"]", "inputs = [\"classify.error\"]"), dir);
  CHECK(has(r.diagnostics, "sinks.results.inputs: \"classify.error\" carries failed items, which a sink cannot take"));
  TempDir dir2;
  CompileResult r2 = compile(replace(kValid, "inputs = [\"classify.error\"]", "inputs = [\"tickets\"]"), dir2);
  CHECK(has(r2.diagnostics, "retries.again.inputs: \"tickets\" carries items, which a retry cannot take"));
}

TEST_CASE("cycles must pass through a retry node") {
  TempDir dir;
  // classify -> b -> classify, with no retry in between.
  CompileResult r = compile(
      replace(kValid, "inputs = [\"tickets\"]\nmax_items", "inputs = [\"tickets\", \"classify\"]\nmax_items"), dir);
  CHECK(has(r.diagnostics, "does not pass through a retry node"));
  CHECK(has(r.diagnostics, "b -> classify -> b"));
  // The retry loop itself is fine.
  TempDir ok;
  CHECK(compile(kValid, ok).plan);
}

TEST_CASE("a chain of 30,000 nodes is checked for cycles without running out of stack") {
  // The cycle check once recursed per node and overflowed the stack from some 20,000 (fuzzing
  // toml_graph, by hand past libFuzzer's input sizes).
  TempDir dir;
  const int n = 30000;
  std::string toml = "[sources.b0]\npath = \"in.jsonl\"\n";
  for (int i = 1; i < n; ++i) toml += fmt::format("[batches.b{}]\ninputs = [\"b{}\"]\n", i, i - 1);
  toml += fmt::format("[sinks.out]\ninputs = [\"b{}\"]\npath = \"out.jsonl\"\n", n - 1);
  CompileResult r = compile(toml, dir);
  CHECK_MESSAGE(r.plan, r.diagnostics.str());
  CompileResult cycle = compile(
      replace(toml, "[batches.b1]\ninputs = [\"b0\"]", fmt::format("[batches.b1]\ninputs = [\"b0\", \"b{}\"]", n - 1)),
      dir);
  REQUIRE(!cycle.plan);
  CHECK(cycle.diagnostics.str().find("cycle b1 -> b2 -> b3") != std::string::npos);
}

TEST_CASE("outputs connected to nothing warn — error ports go to the default dead letter") {
  TempDir dir;
  std::string toml =
      replace(kValid, "inputs = [\"again.exhausted\", \"tickets.invalid\"]", "inputs = [\"again.exhausted\"]");
  toml += "\n[calls.unused]\ninputs = [\"tickets\"]\nprovider = \"sim\"\nprompt = \"x\"\n";
  CompileResult r = compile(toml, dir);
  REQUIRE_MESSAGE(r.plan, r.diagnostics.str());
  CHECK(has(r.diagnostics,
            "warning: sources.tickets: \"tickets.invalid\" is connected to nothing; its invalid records go to the "
            "default dead letter \"failed\""));
  CHECK(has(r.diagnostics, "warning: calls.unused: output \"unused\" is connected to nothing"));
  CHECK(has(r.diagnostics, "\"unused.error\" is connected to nothing; its failed items go to the default dead letter"));
  const auto& edges = r.plan->edges;
  CHECK(std::count_if(edges.begin(), edges.end(), [](const PlanEdge& e) { return e.implicit; }) == 2);
}

TEST_CASE("without a dead letter, an implicit one is added") {
  TempDir dir;
  const char* toml = R"(
[providers.sim]
type = "mock"
[sources.s]
path = "in.jsonl"
[calls.c]
inputs = ["s"]
provider = "sim"
prompt = "{{text}}"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)";
  CompileResult r = compile(toml, dir);
  REQUIRE_MESSAGE(r.plan, r.diagnostics.str());
  const auto it =
      std::find_if(r.plan->nodes.begin(), r.plan->nodes.end(), [](const PlanNode& n) { return n.implicit; });
  REQUIRE(it != r.plan->nodes.end());
  CHECK(it->name == "default_dead_letter");
  CHECK(has(r.diagnostics, "out/graph.dead_letter.jsonl"));
}

TEST_CASE("pipeline.dead_letter must name a dead letter") {
  TempDir dir;
  CompileResult r = compile(replace(kValid, "name = \"t\"", "name = \"t\"\ndead_letter = \"faild\""), dir);
  CHECK(has(r.diagnostics, "pipeline.dead_letter: no [dead_letters.faild] node (did you mean \"failed\"?)"));
}

TEST_CASE("unreadable input files are reported, unless environment checks are off") {
  TempDir dir;
  const std::string toml = replace(kValid, "path = \"in.jsonl\"", "path = \"missing.jsonl\"");
  CompileResult r = compile(toml, dir);
  CHECK(has(r.diagnostics, "sources.tickets.path: cannot read"));
  CHECK(has(r.diagnostics, "missing.jsonl"));

  const auto file = dir.write("graph.toml", toml);
  Redactor redactor;
  CompileOptions options;
  options.check_environment = false;
  CHECK(compile_file(file, builtin_registry(), redactor, options).plan);
}

TEST_CASE("every error is reported in one pass") {
  TempDir dir;
  std::string toml = replace(kValid, "max_items = 5", "max_items = 0\ncolour = 1");
  toml = replace(toml, "provider = \"sim\"", "provider = \"simm\"");
  toml = replace(toml, "type = \"mock\"", "type = \"mock\"\nfailure_rate = 2.0");
  toml = replace(toml, "path = \"out/results.jsonl\"", "path = \"out/results.jsonl\"\ntype = \"jsnl\"");
  CompileResult r = compile(toml, dir);
  CHECK(!r.plan);
  CHECK(r.diagnostics.error_count() >= 5);
  CHECK(has(r.diagnostics, "batches.b.max_items: must be at least 1"));
  CHECK(has(r.diagnostics, "batches.b.colour: unknown key"));
  CHECK(has(r.diagnostics, "calls.classify.provider: no [providers.simm] table (did you mean \"sim\"?)"));
  CHECK(has(r.diagnostics, "providers.sim.failure_rate: must be between 0 and 1"));
  CHECK(has(r.diagnostics, "sinks.results.type: unknown sink type \"jsnl\" (did you mean \"jsonl\"?)"));
}

TEST_CASE("node names are unique across tables and may not contain dots") {
  TempDir dir;
  std::string toml = std::string(kValid) + "\n[sinks.b]\ninputs = [\"classify\"]\npath = \"x.jsonl\"\n";
  toml += "\n[sinks.\"a.b\"]\ninputs = [\"classify\"]\npath = \"y.jsonl\"\n";
  CompileResult r = compile(toml, dir);
  CHECK(has(r.diagnostics, "sinks.b: a node named \"b\" is already defined"));
  CHECK(has(r.diagnostics, "node names may use only letters"));
}

TEST_CASE("--set overrides are validated like the file") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(3));
  CompileResult r = compile_text(kValid, dir, {"pipeline.max_in_flight=500", "batches.b.max_items=0"});
  CHECK(!r.plan);
  CHECK(has(r.diagnostics, "--set batches.b.max_items=0: error: batches.b.max_items: must be at least 1"));
  CompileResult ok = compile_text(kValid, dir, {"pipeline.max_in_flight=500"});
  REQUIRE(ok.plan);
  CHECK(ok.plan->pipeline.max_in_flight == 500);
}

TEST_CASE("a graph without sources is an error") {
  TempDir dir;
  CompileResult r = compile("[providers.sim]\ntype = \"mock\"\n", dir);
  CHECK(!r.plan);
  CHECK(has(r.diagnostics, "the graph has no nodes"));
}

TEST_CASE("a registration without a name or configure function is incomplete, a second one of a name a duplicate") {
  TypeRegistry registry;
  SourceType type;
  CHECK_THROWS_AS(registry.add(type), IncompleteTypeError);  // no name
  type.name = "lines";
  CHECK_THROWS_AS(registry.add(type), IncompleteTypeError);  // no configure function
  type.configure = [](Options&) -> std::unique_ptr<Source> { return nullptr; };
  registry.add(type);
  CHECK_THROWS_AS(registry.add(type), DuplicateTypeError);
  CHECK(registry.source("lines") != nullptr);
}

TEST_CASE("batch_enqueued_tokens on a provider without a batch API is refused, naming the key") {
  TempDir dir;
  CompileResult r =
      compile(replace(kValid, "type = \"mock\"", "type = \"mock\"\nbatch_enqueued_tokens = { \"*\" = 1000 }"), dir);
  CHECK(!r.plan);
  const std::string wanted =
      "graph.toml:7:25: error: providers.sim.batch_enqueued_tokens: provider type \"mock\" has no batch API";
  CHECK_MESSAGE(has(r.diagnostics, wanted), r.diagnostics.str());
}
