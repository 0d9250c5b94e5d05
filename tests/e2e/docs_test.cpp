// The documentation cannot rot: every key of every built-in kind and type must be in
// docs/config.md, and the README must keep its two quick-start commands.
#include <doctest/doctest.h>

#include "engine/graph/pipeline_options.h"
#include "engine/plugins/plugin_loader.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
void check_documented(const std::string& doc, const std::string& where, const std::vector<KeySpec>& keys) {
  for (const auto& k : keys) CHECK_MESSAGE(doc.find("`" + k.name + "`") != std::string::npos, where, ": `", k.name, "` is not documented");
}
}  // namespace

TEST_CASE("docs/config.md documents every key of every table and built-in type") {
  const std::string doc = read_file(source_path("docs/config.md"));
  REQUIRE(!doc.empty());
  TypeRegistry& r = builtin_registry();
  check_documented(doc, "[pipeline]", pipeline_keys());
  check_documented(doc, "[providers]", provider_keys());
  for (const auto& kind : r.kinds()) {
    CHECK_MESSAGE(doc.find("[" + kind.table + ".NAME]") != std::string::npos, kind.table);
    check_documented(doc, kind.table, kind.keys);
  }
  for (const auto& [name, e] : r.sources()) check_documented(doc, "source " + name, e.type.keys);
  for (const auto& [name, e] : r.sinks()) check_documented(doc, "sink " + name, e.type.keys);
  for (const auto& [name, e] : r.providers()) check_documented(doc, "provider " + name, e.type.keys);
  for (const auto& [name, e] : r.transforms()) check_documented(doc, "transform " + name, e.type.keys);
}

TEST_CASE("the README's quick start is the two make commands") {
  const std::string readme = read_file(source_path("README.md"));
  CHECK(readme.find("make run") != std::string::npos);
  CHECK(readme.find("make test") != std::string::npos);
}

TEST_CASE("each example plugin's README documents every key of its types, and docs/plugins.md exists") {
  CHECK(!read_file(source_path("docs/plugins.md")).empty());
  for (const std::string plugin : {"redact_pii", "command_provider"}) {
    CAPTURE(plugin);
    TypeRegistry registry;  // the plugin's types alone
    Diagnostics diagnostics;
    load_plugins({PluginRef{plugin, source_path("graphs"), Location{"test", 1, 1}}}, registry, diagnostics);
    REQUIRE_MESSAGE(!diagnostics.has_errors(), diagnostics.str());
    const std::string doc = read_file(source_path("examples/plugins/" + plugin + "/README.md"));
    REQUIRE(!doc.empty());
    std::size_t types = 0;
    for (const auto& [name, e] : registry.transforms()) check_documented(doc, "transform " + name, e.type.keys), ++types;
    for (const auto& [name, e] : registry.providers()) check_documented(doc, "provider " + name, e.type.keys), ++types;
    for (const auto& [name, e] : registry.sources()) check_documented(doc, "source " + name, e.type.keys), ++types;
    for (const auto& [name, e] : registry.sinks()) check_documented(doc, "sink " + name, e.type.keys), ++types;
    CHECK(types > 0);
  }
}
