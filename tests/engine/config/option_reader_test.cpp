#include <doctest/doctest.h>

#include "engine/config/option_reader.h"
#include "engine/config/toml_loader.h"

using namespace flowbatch;

namespace {
const std::vector<KeySpec> kSchema = {
    {"path", KeyKind::path, true, "", ""},
    {"max_items", KeyKind::integer, false, "20", ""},
    {"rate", KeyKind::number, false, "0.5", ""},
    {"on", KeyKind::boolean, false, "true", ""},
    {"retry_on", KeyKind::string_list, false, "server,timeout", ""},
    {"name", KeyKind::string, false, "default-name", ""},
};

ConfigValue table(const std::string& text, Diagnostics& d) {
  ConfigValue root = load_toml_text(text, "opts.toml", "/base", d);
  return root;
}
}  // namespace

TEST_CASE("absent keys take their defaults and present keys their values") {
  Diagnostics d;
  ConfigValue t = table("path = \"data/in.jsonl\"\nrate = 2\n", d);
  Redactor redactor;
  OptionReader o(t, "sources.x", "x", kSchema, {d, redactor, true});
  CHECK(!d.has_errors());
  CHECK(o.integer("max_items") == 20);
  CHECK(o.number("rate") == 2.0);  // an integer where a number is asked is fine
  CHECK(o.boolean("on"));
  CHECK(o.strings("retry_on") == std::vector<std::string>{"server", "timeout"});
  CHECK(o.string("name") == "default-name");
  CHECK(o.path("path") == std::filesystem::path("/base/data/in.jsonl"));
  CHECK(!o.has("max_items"));
}

TEST_CASE("unknown keys, wrong types and missing required keys are all reported with locations") {
  Diagnostics d;
  ConfigValue t = table("max_itmes = 3\nrate = \"fast\"\nretry_on = [\"server\", 5]\n", d);
  Redactor redactor;
  OptionReader o(t, "batches.b", "b", kSchema, {d, redactor, true});
  REQUIRE(d.error_count() == 4);
  const std::string all = d.str();
  CHECK(all.find("opts.toml:1:1: error: batches.b.max_itmes: unknown key (did you mean \"max_items\"?)") !=
        std::string::npos);
  CHECK(all.find("opts.toml:2:8: error: batches.b.rate: expected a number, found string") != std::string::npos);
  CHECK(all.find("batches.b.retry_on: expected an array of strings, found array") != std::string::npos);
  CHECK(all.find("batches.b.path: missing required key") != std::string::npos);
  // A mistyped key reads as its default, so checks that follow see a sane value.
  CHECK(o.number("rate") == 0.5);
}

TEST_CASE("a key with choices takes only those values, each item of a list too, and reads as its default otherwise") {
  const std::vector<KeySpec> schema = {
      {"mode", KeyKind::string, false, "text", "", {"text", "json"}},
      {"classes", KeyKind::string_list, false, "server", "", {"server", "timeout", "network"}},
  };
  Redactor redactor;
  {
    Diagnostics d;
    ConfigValue t = table("mode = \"json\"\nclasses = [\"timeout\", \"network\"]\n", d);
    OptionReader o(t, "calls.c", "c", schema, {d, redactor, true});
    CHECK_MESSAGE(!d.has_errors(), d.str());
    CHECK(o.string("mode") == "json");
    CHECK(o.strings("classes") == std::vector<std::string>{"timeout", "network"});
  }
  Diagnostics d;
  ConfigValue t = table("mode = \"jsno\"\nclasses = [\"server\", \"timout\"]\n", d);
  OptionReader o(t, "calls.c", "c", schema, {d, redactor, true});
  REQUIRE(d.error_count() == 2);
  const std::string all = d.str();
  CHECK(all.find("opts.toml:1:8: error: calls.c.mode: must be text or json (did you mean \"json\"?)") !=
        std::string::npos);
  CHECK(
      all.find(
          "opts.toml:2:22: error: calls.c.classes: unknown value \"timout\" (did you mean \"timeout\"?); each must be "
          "server, timeout or network") != std::string::npos);
  CHECK(o.string("mode") == "text");
  CHECK(o.strings("classes") == std::vector<std::string>{"server"});
}

TEST_CASE("keys handled elsewhere are accepted, and errors from types point at the key") {
  Diagnostics d;
  ConfigValue t = table("inputs = [\"a\"]\npath = \"p\"\nmax_items = 0\n", d);
  Redactor redactor;
  OptionReader o(t, "batches.b", "b", kSchema, {d, redactor, true}, {"inputs"});
  CHECK(!d.has_errors());
  o.error("max_items", "must be at least 1");
  REQUIRE(d.error_count() == 1);
  CHECK(d.items()[0].str() == "opts.toml:3:13: error: batches.b.max_items: must be at least 1");
}

TEST_CASE("secrets come from the environment and are registered for redaction") {
  ::setenv("FLOWBATCH_TEST_KEY", "sk-secret-value-123", 1);
  ::unsetenv("FLOWBATCH_TEST_NO_KEY");
  Diagnostics d;
  ConfigValue t = table("api_key_env = \"FLOWBATCH_TEST_KEY\"\nother_env = \"FLOWBATCH_TEST_NO_KEY\"\n", d);
  Redactor redactor;
  std::vector<KeySpec> schema = {{"api_key_env", KeyKind::string, false, "", ""},
                                 {"other_env", KeyKind::string, false, "", ""}};
  OptionReader o(t, "providers.p", "p", schema, {d, redactor, true});
  CHECK(o.secret("api_key_env") == "sk-secret-value-123");
  CHECK(redactor.redact("key sk-secret-value-123") == "key [REDACTED]");
  CHECK(o.secret("other_env").empty());
  REQUIRE(d.error_count() == 1);
  CHECK(d.items()[0].message == "environment variable FLOWBATCH_TEST_NO_KEY is not set");

  Diagnostics quiet;
  OptionReader offline(t, "providers.p", "p", schema, {quiet, redactor, false});
  CHECK(offline.secret("other_env").empty());
  CHECK(!quiet.has_errors());  // --no-environment
}
