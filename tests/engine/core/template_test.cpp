#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "engine/core/template.h"

using namespace flowbatch;

TEST_CASE("templates insert fields, nested fields and JSON for non-strings") {
  const auto fields = boost::json::parse(R"({"text":"hello","n":3,"meta":{"lang":"de"},"tags":["a","b"]})").as_object();
  CHECK(Template("Say {{text}} in {{ meta.lang }}").render(fields).text == "Say hello in de");
  CHECK(Template("{{n}} {{tags}} {{meta}}").render(fields).text == R"(3 ["a","b"] {"lang":"de"})");
  CHECK(Template("no placeholders").render(fields).text == "no placeholders");
  CHECK(Template("{{text}}{{text}}").fields() == std::vector<std::string>{"text"});
}

TEST_CASE("a field the item lacks is reported by name, never rendered as empty") {
  const auto fields = boost::json::parse(R"({"text":"hello","meta":{"lang":"de"},"none":null})").as_object();
  const Rendering typo = Template("[{{nmae}}] {{text}}").render(fields);
  CHECK(!typo.ok());
  CHECK(typo.missing == std::optional<std::string>("nmae"));
  CHECK(Template("{{meta.country}}").render(fields).missing == std::optional<std::string>("meta.country"));
  CHECK(Template("{{text.deeper}}").render(fields).missing == std::optional<std::string>("text.deeper"));
  const Rendering null_field = Template("[{{none}}]").render(fields);  // present, and null: renders as nothing
  CHECK(null_field.ok());
  CHECK(null_field.text == "[]");
}

TEST_CASE("malformed templates are rejected with the reason") {
  CHECK_THROWS_WITH_AS(Template("hello {{name"), doctest::Contains("unclosed"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Template("hello {{ }}"), doctest::Contains("empty"), std::invalid_argument);
}

TEST_CASE("{{json:field}} inserts a JSON value, {{raw:field}} the value as is") {
  const auto fields = boost::json::parse(R"({"s":"a\"b\nc","n":3,"none":null,"o":{"k":[1]}})").as_object();
  CHECK(Template(R"({"x": {{json:s}}, "n": {{ json: n }}, "z": {{json:none}}, "o": {{json:o}}})").render(fields).text ==
        R"({"x": "a\"b\nc", "n": 3, "z": null, "o": {"k":[1]}})");
  CHECK(Template("{{raw:s}}").render(fields).text == "a\"b\nc");
  CHECK(Template("{{json:o.k}}").fields() == std::vector<std::string>{"o.k"});
  CHECK(Template("{{json:missing}}").render(fields).missing == std::optional<std::string>("missing"));
  CHECK_THROWS_WITH_AS(Template("{{json: }}"), doctest::Contains("empty"), std::invalid_argument);
  // Only the two forms are prefixes: any other name with a colon is a field name, as before.
  const auto colon = boost::json::parse(R"({"a:b":"x"})").as_object();
  CHECK(Template("{{a:b}}").render(colon).text == "x");
}

TEST_CASE("URL templates percent-encode plain placeholders, not raw ones") {
  const auto fields =
      boost::json::parse(R"({"p":"../ok?x=","q":"a b&c=d#e/é","dots":"..","n":7,"path":"/v1/x"})").as_object();
  const Template url("https://h/score/{{p}}?q={{q}}&n={{n}}&d={{dots}}{{raw:path}}", Escaping::url);
  CHECK(url.render(fields).text == "https://h/score/..%2Fok%3Fx%3D?q=a%20b%26c%3Dd%23e%2F%C3%A9&n=7&d=%2E%2E/v1/x");
  CHECK(Template("{{p}}").render(fields).text == "../ok?x=");  // prompts and bodies are unchanged
}
