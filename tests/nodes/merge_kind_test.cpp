// A kind that merges N items into one and splits the answer back (tests/nodes/merge_kind.cpp):
// one file and the registration line below, and exactly-once holds through it.
#include <doctest/doctest.h>

#include "nodes/builtin.h"
#include "tests/nodes/merge_kind.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

TypeRegistry& registry_with_merge() {
  static TypeRegistry* r = [] {
    auto* reg = new TypeRegistry();
    register_builtin(*reg);
    reg->add_kind(merge_kind());  // the registration line
    return reg;
  }();
  return *r;
}

std::uint64_t records(const InProcessRun& run, const char* which) {
  return run.report.json.at("records").as_object().at(which).as_uint64();
}

/// in.jsonl, merged in threes by "pack".
const std::string kPack = R"(
[sources.in]
path = "in.jsonl"
id_field = "id"
[merges.pack]
inputs = ["in"]
size = 3
)";
const std::string kMergeAndSplit = kPack + R"(
[merges.unpack]
inputs = ["pack"]
mode = "split"
[sinks.out]
inputs = ["unpack"]
path = "out.jsonl"
)";

}  // namespace

TEST_CASE("merged in threes and split back: every record answered once, and a resumed run does none again") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(7));
  const InProcessRun run = run_text(kMergeAndSplit, dir, {}, &registry_with_merge());
  REQUIRE(run.compiled.plan);
  CHECK(run.report.exit_code == 0);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 7);
  std::map<std::string, int> expected;
  for (int i = 1; i <= 7; ++i) expected["i" + std::to_string(i)] = 1;
  CHECK(count_ids(out) == expected);
  for (const auto& o : out) {
    std::string text(o.at("text").as_string());
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(o.at("answer").as_string() == text);  // each part got its own line of the answer
  }
  CHECK(records(run, "ok") == 7);  // records, not items: 3 merged items stood for them
  CHECK(run.report.succeeded == 7);

  const InProcessRun again = resume_text(kMergeAndSplit, dir, {}, &registry_with_merge());
  CHECK(again.report.exit_code == 0);
  CHECK(records(again, "skipped") == 7);  // every record was complete in the state
  CHECK(read_jsonl(dir / "out.jsonl").size() == 7);
}

TEST_CASE("merged items written as they are complete the records they stand for") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(7));
  const std::string graph = kPack + R"(
[sinks.out]
inputs = ["pack"]
path = "out.jsonl"
)";
  const InProcessRun run = run_text(graph, dir, {}, &registry_with_merge());
  CHECK(run.report.exit_code == 0);
  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(out.size() == 3);  // 3 + 3 + 1
  CHECK(records(run, "ok") == 7);
  CHECK(run.report.succeeded == 3);
  const InProcessRun again = resume_text(graph, dir, {}, &registry_with_merge());
  CHECK(records(again, "skipped") == 7);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 3);
}
