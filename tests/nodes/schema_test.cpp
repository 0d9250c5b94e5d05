// The JSON Schema of graph files, generated from the registry: the copy kept in the repository is
// the current one, and the schema says what the compiler checks (keys, types, choices, defaults).
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include "engine/graph/pipeline_options.h"
#include "engine/graph/schema.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace json = boost::json;

namespace {

/// Every object in the schema that lists `properties`, with where it is.
void tables_in(const json::value& v, const std::string& where,
               std::vector<std::pair<std::string, const json::object*>>& out) {
  if (v.is_array()) {
    for (std::size_t i = 0; i < v.get_array().size(); ++i)
      tables_in(v.get_array()[i], where + "/" + std::to_string(i), out);
    return;
  }
  if (!v.is_object()) return;
  const json::object& o = v.get_object();
  if (o.contains("properties")) out.emplace_back(where, &o);
  for (const auto& [key, value] : o) tables_in(value, where + "/" + std::string(key), out);
}

const json::object& def(const json::value& schema, const std::string& name) {
  return schema.at("$defs").at(name).as_object();
}

}  // namespace

TEST_CASE(
    "schema/flowbatch.schema.json is the schema of the built-in types (regenerate: cmake --build build --target "
    "schema)") {
  const std::string shipped = read_file(source_path("schema/flowbatch.schema.json"));
  REQUIRE(!shipped.empty());
  CHECK(shipped == pretty_json(graph_schema(builtin_registry())));
}

TEST_CASE("every table in the schema refuses unknown keys, and the top level refuses unknown tables") {
  const json::value schema = graph_schema(builtin_registry());
  std::vector<std::pair<std::string, const json::object*>> tables;
  tables_in(schema, "", tables);
  CHECK(tables.size() > 15);  // top, pipeline, the untyped kinds, a variant per type
  for (const auto& [where, table] : tables) {
    CAPTURE(where);
    REQUIRE(table->contains("additionalProperties"));
    CHECK(table->at("additionalProperties") == json::value(false));
  }
  for (const auto& table : graph_tables(builtin_registry())) CHECK(schema.at("properties").as_object().contains(table));
}

TEST_CASE("typed tables are a oneOf by type, and the default type needs no `type` key") {
  const json::value schema = graph_schema(builtin_registry());
  const auto& sources = def(schema, "sources").at("oneOf").as_array();
  CHECK(sources.size() == builtin_registry().sources().size());
  const auto& jsonl = def(schema, "sources.jsonl");
  CHECK(jsonl.at("properties").at("type").at("const") == "jsonl");
  CHECK(jsonl.at("required").as_array() == json::array{"path"});
  const auto& csv = def(schema, "sources.csv");
  CHECK(csv.at("required").as_array() == json::array{"type", "path"});
  CHECK(csv.at("properties").as_object().contains("delimiter"));
  CHECK(csv.at("properties").as_object().contains("id_field"));  // the kind's keys come with every type
  const auto& openai = def(schema, "providers.openai");
  CHECK(openai.at("properties").as_object().contains("max_concurrency"));  // every provider's keys
  CHECK(openai.at("properties").at("base_url").at("default") == "https://api.openai.com/v1");
  // No transform type is built in: any transform is refused, as `validate` refuses it.
  CHECK(def(schema, "transforms").contains("not"));
}

TEST_CASE("keys carry their type, default and choices as the compiler reads them") {
  const json::value schema = graph_schema(builtin_registry());
  const auto& calls = def(schema, "calls").at("properties");
  CHECK(calls.at("parse").at("enum") == json::array{"text", "json"});
  CHECK(calls.at("parse").at("default") == "text");
  CHECK(calls.at("endpoint").at("enum") == json::array{"chat", "embeddings", "passthrough"});
  CHECK(calls.at("cache").at("default") == false);
  CHECK(calls.at("temperature").at("type") == "number");
  const auto& retries = def(schema, "retries").at("properties");
  CHECK(retries.at("retry_on").at("items").at("enum").as_array().size() == kAllErrorClasses.size());
  CHECK(retries.at("retry_on").at("default").as_array().size() == 5);
  CHECK(retries.at("max_attempts").at("default") == 3);
  const auto& pipeline = schema.at("properties").at("pipeline").at("properties");
  CHECK(pipeline.at("progress").at("enum").as_array().size() == progress_modes().size());
  // A default that describes rather than states a value is told in the description.
  CHECK(!pipeline.at("state").as_object().contains("default"));
  CHECK(std::string(pipeline.at("state").at("description").as_string()).find("(default: .flowbatch/<graph>.db)") !=
        std::string::npos);
  CHECK(pipeline.at("state").at("minLength") == 1);  // an empty path is refused
}

TEST_CASE("every built-in default is a value of its key's type, unless it describes one") {
  const auto check = [](const std::vector<KeySpec>& keys, const std::string& where) {
    for (const KeySpec& k : keys) {
      INFO(where, ": ", k.name, " = ", k.default_value);
      if (k.default_value.empty()) continue;
      const json::value v = default_as_json(k);
      if (k.kind == KeyKind::integer) CHECK(v.is_int64());
      if (k.kind == KeyKind::number) CHECK(v.is_number());
      if (k.kind == KeyKind::boolean) CHECK(v.is_bool());
      if (k.kind == KeyKind::string_list) CHECK(v.is_array());
      if (!k.choices.empty() && v.is_string())
        CHECK(std::find(k.choices.begin(), k.choices.end(), k.default_value) != k.choices.end());
    }
  };
  check(pipeline_keys(), "pipeline");
  check(provider_keys(), "providers");
  for (const auto& kind : builtin_registry().kinds()) check(kind.keys, kind.table);
  for (const auto& [name, e] : builtin_registry().sources()) check(e.type.keys, "source " + name);
  for (const auto& [name, e] : builtin_registry().sinks()) check(e.type.keys, "sink " + name);
  for (const auto& [name, e] : builtin_registry().providers()) check(e.type.keys, "provider " + name);
}

TEST_CASE("pretty_json keeps the value and the key order") {
  const json::value v = json::parse(R"({"b": [1, "x"], "a": {"c": [{"d": null}], "e": {}}, "f": "q\"uote"})");
  const std::string text = pretty_json(v);
  CHECK(json::parse(text) == v);
  CHECK(text.find("\"b\": [1,\"x\"]") != std::string::npos);
  CHECK(text.find("\"b\"") < text.find("\"a\""));
  CHECK(text.back() == '\n');
}
