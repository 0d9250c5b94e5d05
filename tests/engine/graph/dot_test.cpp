#include <doctest/doctest.h>

#include "engine/graph/dot.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

TEST_CASE("the DOT dump shows every node and labels edges with their ports") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  CompileResult r = compile_text(R"(
[providers.sim]
type = "mock"
[sources.s]
path = "in.jsonl"
[calls.c]
inputs = ["s", "r"]
provider = "sim"
prompt = "{{text}}"
[retries.r]
inputs = ["c.error"]
[dead_letters.d]
inputs = ["r.exhausted", "s.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                                 dir);
  REQUIRE_MESSAGE(r.plan, r.diagnostics.str());
  const std::string dot = to_dot(*r.plan);
  CHECK(dot.rfind("digraph \"graph\" {", 0) == 0);
  CHECK(dot.find("\"c\" -> \"r\" [label=\"error\"];") != std::string::npos);
  CHECK(dot.find("\"r\" -> \"d\" [label=\"exhausted\"];") != std::string::npos);
  CHECK(dot.find("\"s\" -> \"d\" [label=\"invalid\"];") != std::string::npos);
  CHECK(dot.find("\"r\" -> \"c\";") != std::string::npos);
  CHECK(dot.find("\"c\" -> \"out\";") != std::string::npos);
  CHECK(dot.find("provider sim") != std::string::npos);
}
