#include <doctest/doctest.h>

#include <cstdlib>

#include "engine/config/toml_loader.h"

using namespace flowbatch;

TEST_CASE("values keep their file:line:column") {
  Diagnostics d;
  ConfigValue root = load_toml_text("[sinks.out]\npath = \"x.jsonl\"\nflush_every = 5\n", "g.toml", ".", d);
  REQUIRE(!d.has_errors());
  const ConfigValue* sinks = root.find("sinks");
  REQUIRE(sinks);
  const ConfigEntry* out = sinks->find("out")->entry("flush_every");
  REQUIRE(out);
  CHECK(out->key_where.str() == "g.toml:3:1");
  CHECK(out->value.where.str() == "g.toml:3:15");
  CHECK(out->value.integer == 5);
}

TEST_CASE("a syntax error names file:line:column") {
  Diagnostics d;
  load_toml_text("[pipeline]\nname = \"x\"\nmax_in_flight = = 3\n", "broken.toml", ".", d);
  REQUIRE(d.has_errors());
  CHECK(d.items().front().where.file == "broken.toml");
  CHECK(d.items().front().where.line == 3);
  CHECK(d.str().find("invalid TOML") != std::string::npos);
}

TEST_CASE("environment variables expand, with defaults, and unset ones are errors") {
  ::setenv("FLOWBATCH_TEST_URL", "http://127.0.0.1:9", 1);
  ::unsetenv("FLOWBATCH_TEST_UNSET");
  Diagnostics d;
  ConfigValue root = load_toml_text(
      "a = \"${FLOWBATCH_TEST_URL}/v1\"\n"
      "b = \"${FLOWBATCH_TEST_UNSET:-fallback}\"\n"
      "c = \"literal $${HOME}\"\n"
      "d = \"${FLOWBATCH_TEST_UNSET}\"\n",
      "env.toml", ".", d);
  CHECK(root.find("a")->text == "http://127.0.0.1:9/v1");
  CHECK(root.find("b")->text == "fallback");
  CHECK(root.find("c")->text == "literal ${HOME}");
  REQUIRE(d.error_count() == 1);
  CHECK(d.items()[0].where.line == 4);
  CHECK(d.items()[0].subject == "d");
  CHECK(d.items()[0].message.find("FLOWBATCH_TEST_UNSET is not set") != std::string::npos);
}

TEST_CASE("--set overrides read TOML values, else plain strings, and create tables") {
  Diagnostics d;
  ConfigValue root = load_toml_text("[pipeline]\nmax_in_flight = 10\n", "g.toml", ".", d);
  apply_override(root, "pipeline.max_in_flight=500", d);
  apply_override(root, "sources.tickets.path=data/other.jsonl", d);
  apply_override(root, "retries.r.retry_on=[\"server\", \"timeout\"]", d);
  apply_override(root, "pipeline.progress=\"off\"", d);
  REQUIRE(!d.has_errors());
  const ConfigValue* m = root.find("pipeline")->find("max_in_flight");
  CHECK(m->kind == ConfigValue::Kind::integer);
  CHECK(m->integer == 500);
  CHECK(m->where.file == "--set pipeline.max_in_flight=500");
  CHECK(root.find("sources")->find("tickets")->find("path")->text == "data/other.jsonl");
  CHECK(root.find("retries")->find("r")->find("retry_on")->items.size() == 2);
  CHECK(root.find("pipeline")->find("progress")->text == "off");
}

TEST_CASE("malformed --set arguments are reported") {
  Diagnostics d;
  ConfigValue root = load_toml_text("name = \"x\"\n", "g.toml", ".", d);
  apply_override(root, "no-equals-sign", d);
  apply_override(root, "name.inner=3", d);  // name is a string, not a table
  apply_override(root, "a..b=1", d);
  CHECK(d.error_count() == 3);
}

namespace {
std::string dotted(std::size_t parts) {
  std::string key = "a";
  for (std::size_t i = 1; i < parts; ++i) key += ".a";
  return key;
}
}  // namespace

TEST_CASE("tables nest at most 64 levels deep — deeper files are errors, not stack overflows") {
  Diagnostics ok;
  load_toml_text("[" + dotted(64) + "]\nx = 1\n", "g.toml", ".", ok);
  CHECK(!ok.has_errors());

  Diagnostics deep;
  load_toml_text("[" + dotted(66) + "]\nx = 1\n", "g.toml", ".", deep);
  REQUIRE(deep.error_count() == 1);
  CHECK(deep.str().find("nested more than 64 levels deep") != std::string::npos);
  CHECK(deep.items().front().where.line == 1);

  // Deep enough to overflow the stack in toml++ itself (from some 30,000 parts): refused before
  // it parses. Once a crash of `flowbatch validate` (fuzzing).
  for (const std::string& text : {"x = 1\n[" + dotted(50000) + "]\n", "x = 1\n" + dotted(50000) + " = 1\n",
                                  "x = 1\n[[" + dotted(50000) + "]]\n"}) {
    Diagnostics d;
    ConfigValue root = load_toml_text(text, "g.toml", ".", d);
    REQUIRE(d.error_count() == 1);
    CHECK(d.str().find("g.toml:2:1: error: a key of more than 1000 dotted parts") == 0);
    CHECK(root.entries.empty());
  }
  // The crafted file: a table header of 20,000 dotted parts is an error, not a crash.
  Diagnostics header;
  load_toml_text("[" + dotted(20000) + "]\nx = 1\n", "g.toml", ".", header);
  REQUIRE(header.error_count() == 1);
  CHECK(header.str().find("g.toml:1:1: error: a key of more than 1000 dotted parts") == 0);

  Diagnostics quoted;  // dots in a value are not a key's
  load_toml_text("x = \"" + std::string(5000, '.') + "\"\nlist = [\n  \"" + std::string(5000, '.') + "\",\n]\n",
                 "g.toml", ".", quoted);
  CHECK(!quoted.has_errors());

  Diagnostics set;
  ConfigValue root = load_toml_text("", "g.toml", ".", set);
  apply_override(root, dotted(65) + "=1", set);
  CHECK(set.str().find("nested more than 64 levels deep") != std::string::npos);
}
