// The documentation cannot rot: every key of every built-in kind and type must be in
// docs/config.md, and the README must keep its two quick-start commands.
#include <doctest/doctest.h>

#include <sstream>

#include "engine/graph/pipeline_options.h"
#include "engine/plugins/plugin_loader.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

/// The lines under the heading of `level` ("##", "###") whose text contains `title`, up to the next
/// heading of that level or above; empty when there is no such heading.
std::string section(const std::string& doc, const std::string& level, const std::string& title) {
  std::istringstream lines(doc);
  std::string line, out;
  bool inside = false;
  while (std::getline(lines, line)) {
    if (line.starts_with("#")) {
      const std::size_t depth = line.find_first_not_of('#');
      if (inside && depth <= level.size()) break;
      if (!inside && depth == level.size() && line.find(title) != std::string::npos) inside = true;
    }
    if (inside) out += line + "\n";
  }
  return out;
}

/// Each key is a row of a key table in `text` ("| `name` |"): a key name that merely appears
/// somewhere (`path`, `type`) does not count.
void check_documented(const std::string& text, const std::string& where, const std::vector<KeySpec>& keys) {
  REQUIRE_MESSAGE(!text.empty(), where, " has no section");
  for (const auto& k : keys)
    CHECK_MESSAGE(text.find("| `" + k.name + "` |") != std::string::npos, where, ": `", k.name,
                  "` is not documented there");
}

/// Every key of every type of a family (sources, sinks, ...) in its own `type = "NAME"` section.
template <class Types>
std::size_t check_types_documented(const std::string& doc, const std::string& table, const Types& types) {
  const std::string family = section(doc, "##", "`[" + table + ".NAME]`");
  for (const auto& [name, e] : types)
    if (!e.type.keys.empty())
      check_documented(section(family, "###", "`type = \"" + name + "\"`"), table + " type " + name, e.type.keys);
  return types.size();
}

}  // namespace

TEST_CASE("docs/config.md documents every key of every table and built-in type, in its own section") {
  const std::string doc = read_file(source_path("docs/config.md"));
  REQUIRE(!doc.empty());
  TypeRegistry& r = builtin_registry();
  check_documented(section(doc, "##", "`[pipeline]`"), "[pipeline]", pipeline_keys());
  check_documented(section(doc, "##", "`[providers.NAME]`"), "[providers]", provider_keys());
  check_documented(section(doc, "##", "`[notify.NAME]`"), "[notify]", notify_keys());
  check_documented(section(doc, "##", "`[alerts.NAME]`"), "[alerts]", alert_keys());
  REQUIRE(!r.kinds().empty());
  for (const auto& kind : r.kinds())
    check_documented(section(doc, "##", "`[" + kind.table + ".NAME]`"), kind.table, kind.keys);
  std::size_t types = check_types_documented(doc, "sources", r.sources());
  types += check_types_documented(doc, "sinks", r.sinks());
  types += check_types_documented(doc, "providers", r.providers());
  types += check_types_documented(doc, "transforms", r.transforms());
  CHECK(types >= 10);  // 3 sources, 4 sinks, 4 providers
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
    for (const auto& [name, e] : registry.transforms())
      check_documented(doc, "transform " + name, e.type.keys), ++types;
    for (const auto& [name, e] : registry.providers()) check_documented(doc, "provider " + name, e.type.keys), ++types;
    for (const auto& [name, e] : registry.sources()) check_documented(doc, "source " + name, e.type.keys), ++types;
    for (const auto& [name, e] : registry.sinks()) check_documented(doc, "sink " + name, e.type.keys), ++types;
    CHECK(types > 0);
  }
}
