// The JSON Schema checked by a validator that is not flowbatch's own (python3-jsonschema, Draft
// 2020-12, the TOML read as JSON, as an editor reads it): the shipped graphs and the docs' graphs
// are valid, and on a set of good and bad graphs the schema and `flowbatch validate` agree.
#include <doctest/doctest.h>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

/// `tests/schema/validate.py SCHEMA FILES...`: exit 0 when every graph is valid, 1 when one is not.
ProcessResult validate_with_jsonschema(const fs::path& schema, const std::vector<std::string>& files) {
  std::vector<std::string> argv = {"python3", source_path("tests/schema/validate.py").string(), schema.string()};
  argv.insert(argv.end(), files.begin(), files.end());
  return run_process(argv);
}

/// The schema with the example plugins' types, as `flowbatch schema graph.toml` writes it.
fs::path plugin_schema(const TempDir& dir) {
  const fs::path out = dir / "plugins.schema.json";
  auto r = run_flowbatch({"schema", source_path("graphs/redact_and_classify.toml").string(), "-o", out.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return out;
}

const std::string kSource = "[sources.in]\npath = \"in.jsonl\"\nid_field = \"id\"\n";
const std::string kSink = "[sinks.out]\ninputs = [\"in\"]\npath = \"out.jsonl\"\n";
const std::string kCall =
    "[providers.sim]\ntype = \"mock\"\n"
    "[calls.c]\ninputs = [\"in\"]\nprovider = \"sim\"\nprompt = \"{{text}}\"\n";
const std::string kCallSink =
    "[sinks.out]\ninputs = [\"c\"]\npath = \"out.jsonl\"\n"
    "[dead_letters.dead]\ninputs = [\"c.error\"]\npath = \"dead.jsonl\"\n";

struct Case {
  const char* what;
  std::string toml;
  bool valid;
};

}  // namespace

TEST_CASE("every graph in graphs/ and every TOML graph in the docs validates against the schema") {
  TempDir dir;
  std::vector<std::string> builtin_only, with_plugins;
  for (const auto& e : fs::directory_iterator(source_path("graphs"))) {
    if (e.path().extension() != ".toml") continue;
    (read_file(e.path()).find("plugins =") == std::string::npos ? builtin_only : with_plugins)
        .push_back(e.path().string());
  }
  REQUIRE(builtin_only.size() >= 4);
  REQUIRE(!with_plugins.empty());
  auto shipped = validate_with_jsonschema(source_path("schema/flowbatch.schema.json"), builtin_only);
  CHECK_MESSAGE(shipped.exit_code == 0, shipped.out, shipped.err);

  std::vector<std::string> docs = with_plugins;
  for (const auto* md :
       {"README.md", "docs/config.md", "docs/plugins.md", "docs/nightly.md", "docs/self_hosted.md", "docs/scale_out.md",
        "examples/plugins/redact_pii/README.md", "examples/plugins/command_provider/README.md"})
    docs.push_back(source_path(md).string());
  auto all = validate_with_jsonschema(plugin_schema(dir), docs);
  CHECK_MESSAGE(all.exit_code == 0, all.out, all.err);
  CHECK(all.out.find("docs/self_hosted.md (toml block 3): valid") != std::string::npos);
  CHECK(all.out.find("docs/nightly.md (toml block 1): valid") != std::string::npos);
  CHECK(all.out.find("docs/scale_out.md (toml block 1): valid") != std::string::npos);
  CHECK(all.out.find("README.md (toml block 2): valid") != std::string::npos);  // the plugin example
}

TEST_CASE("a graph with a misspelt key fails the schema, naming the key") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(2));
  const fs::path graph = dir.write("g.toml", kSource + kSink + "[batches.b]\ninputs = [\"in\"]\nmax_itmes = 20\n");
  auto r = validate_with_jsonschema(source_path("schema/flowbatch.schema.json"), {graph.string()});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(
      r.out.find("batches.b: Additional properties are not allowed ('max_itmes' was unexpected)") != std::string::npos,
      r.out);
}

TEST_CASE("the schema and flowbatch validate agree on good and bad graphs") {
  const std::vector<Case> cases = {
      {"a source and a sink", kSource + kSink, true},
      {"every table",
       kSource + kCall + kCallSink +
           "[pipeline]\nname = \"all\"\nprogress = \"plain\"\nmax_in_flight = 100\n"
           "[batches.b]\ninputs = [\"in\"]\nmax_items = 5\ngroup_by = \"text\"\n"
           "[retries.r]\ninputs = [\"c.error\"]\njitter = \"equal\"\nretry_on = [\"server\", \"timeout\"]\n",
       true},
      {"a csv source with its keys", "[sources.in]\ntype = \"csv\"\npath = \"in.csv\"\ndelimiter = \";\"\n" + kSink,
       true},
      {"a call parsing JSON, its provider adaptive",
       kSource + kCall + "parse = \"json\"\nendpoint = \"chat\"\ntemperature = 0.5\n" + kCallSink +
           "[providers.sim2]\ntype = \"openai\"\napi_key_env = \"\"\nmax_concurrency = \"adaptive\"\n",
       true},
      {"a misspelt key", kSource + kSink + "[batches.b]\ninputs = [\"in\"]\nmax_itmes = 20\n", false},
      {"a value of the wrong type", kSource + kSink + "[batches.b]\ninputs = [\"in\"]\nmax_items = \"20\"\n", false},
      {"a value outside the key's choices", kSource + kCall + "parse = \"yaml\"\n" + kCallSink, false},
      {"a list item outside the key's choices",
       kSource + kCall + kCallSink + "[retries.r]\ninputs = [\"c.error\"]\nretry_on = [\"server\", \"ratelimit\"]\n",
       false},
      {"an unknown table", kSource + kSink + "[sink.x]\npath = \"x.jsonl\"\n", false},
      {"an unknown source type", "[sources.in]\ntype = \"parquet\"\npath = \"in.jsonl\"\n" + kSink, false},
      {"an unknown provider type",
       kSource + kCallSink +
           "[providers.sim]\ntype = \"gemini\"\n"
           "[calls.c]\ninputs = [\"in\"]\nprovider = \"sim\"\nprompt = \"x\"\n",
       false},
      {"a key of another type", "[sources.in]\npath = \"in.jsonl\"\ndelimiter = \";\"\n" + kSink, false},
      {"a missing required key", kSource + "[sinks.out]\ninputs = [\"in\"]\n", false},
      {"an empty path", kSource + "[sinks.out]\ninputs = [\"in\"]\npath = \"\"\n", false},
      {"a transform with no plugin loaded",
       kSource + kSink + "[transforms.t]\ntype = \"redact_pii\"\ninputs = [\"in\"]\n", false},
      {"a provider key of the wrong type", kSource + kCall + kCallSink + "latency_ms = \"fast\"\n", false},
      {"a bad node name", kSource + kSink + "[batches.\"a.b\"]\ninputs = [\"in\"]\n", false},
  };
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(3));
  dir.write("in.csv", "id;text\n1;one\n");
  const fs::path schema = source_path("schema/flowbatch.schema.json");
  int i = 0;
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const std::string name = "g" + std::to_string(i++) + ".toml";
    const fs::path graph = dir.write(name, c.toml);
    auto validate = run_flowbatch({"validate", name}, dir.path());
    CHECK_MESSAGE(validate.exit_code == (c.valid ? 0 : 78), validate.err);
    auto jsonschema = validate_with_jsonschema(schema, {graph.string()});
    CHECK_MESSAGE(jsonschema.exit_code == (c.valid ? 0 : 1), jsonschema.out, jsonschema.err);
  }
}
