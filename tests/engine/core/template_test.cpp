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
