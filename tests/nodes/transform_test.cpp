#include <doctest/doctest.h>

#include <algorithm>
#include <stdexcept>

#include "nodes/builtin.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

/// A transform written against the public API only, as a plugin would be: upper-cases `text`,
/// drops items whose text is "drop", splits "split" into two, and throws on "bad".
class Shout final : public Transform {
 public:
  void apply(Item& item, ItemOutput& out) override {
    const auto* text = item.find("text");
    const std::string value = text && text->is_string() ? std::string(text->get_string()) : "";
    if (value == "bad") throw std::runtime_error("cannot shout \"bad\"");
    if (value == "drop") return;
    if (value == "split") {
      Item extra;
      extra.set("text", "SPLIT-2");
      out.emit(std::move(extra));
    }
    std::string upper = value;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    item.set("text", boost::json::string(upper));
    out.emit(std::move(item));
  }
};

TypeRegistry& registry_with_shout() {
  static TypeRegistry* r = [] {
    auto* reg = new TypeRegistry();
    register_builtin(*reg);
    reg->add(TransformType{"shout", "test transform", {}, [](Options&) { return std::make_unique<Shout>(); }, true});
    return reg;
  }();
  return *r;
}

const char* kTransformGraph = R"(
[pipeline]
max_in_flight = 8
[sources.in]
path = "in.jsonl"
id_field = "id"
[transforms.t]
type = "shout"
inputs = ["in"]
[dead_letters.dead]
inputs = ["t.error"]
path = "dead.jsonl"
[sinks.out]
inputs = ["t"]
path = "out.jsonl"
)";
}  // namespace

TEST_CASE("a transform maps, drops, splits and rejects items — the run goes on") {
  TempDir dir;
  std::string input;
  for (int i = 0; i < 40; ++i) input += "{\"id\": \"k" + std::to_string(i) + "\", \"text\": \"keep\"}\n";
  input +=
      "{\"id\": \"d\", \"text\": \"drop\"}\n{\"id\": \"s\", \"text\": \"split\"}\n{\"id\": \"b\", \"text\": \"bad\"}\n";
  dir.write("in.jsonl", input);
  auto run = run_text(kTransformGraph, dir, {}, &registry_with_shout());
  CHECK(run.report.succeeded == 42);  // 40 kept + the split pair
  CHECK(run.report.dead == 1);
  CHECK(run.report.discarded == 1);  // "drop", filtered on purpose
  const auto out = read_jsonl(dir / "out.jsonl");
  std::size_t shouted = 0;
  for (const auto& r : out) shouted += r.at("text").as_string() == "KEEP" ? 1 : 0;
  CHECK(shouted == 40);
  const auto ids = count_ids(out);
  CHECK(ids.at("s") == 1);    // the transformed input keeps its id ...
  CHECK(ids.at("s.0") == 1);  // ... the new item is named after it
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].at("id").as_string() == "b");
  CHECK(dead[0].at("error").at("class").as_string() == "transform");
  CHECK(dead[0].at("error").at("message").as_string() == "cannot shout \"bad\"");
}

TEST_CASE("an unknown transform type gets a did-you-mean") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  std::string g = kTransformGraph;
  g.replace(g.find("\"shout\""), 7, "\"shuot\"");
  auto r = compile_text(g, dir, {}, &registry_with_shout());
  CHECK(r.diagnostics.str().find("transforms.t.type: unknown transform type \"shuot\" (did you mean \"shout\"?)") !=
        std::string::npos);
}
