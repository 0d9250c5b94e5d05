#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "engine/core/template.h"

using namespace flowbatch;

TEST_CASE("templates insert fields, nested fields and JSON for non-strings") {
  const auto fields = boost::json::parse(R"({"text":"hello","n":3,"meta":{"lang":"de"},"tags":["a","b"]})").as_object();
  CHECK(Template("Say {{text}} in {{ meta.lang }}").render(fields) == "Say hello in de");
  CHECK(Template("{{n}} {{tags}}").render(fields) == R"(3 ["a","b"])");
  CHECK(Template("[{{missing}}]").render(fields) == "[]");
  CHECK(Template("no placeholders").render(fields) == "no placeholders");
  CHECK(Template("{{text}}{{text}}").fields() == std::vector<std::string>{"text"});
}

TEST_CASE("malformed templates are rejected with the reason") {
  CHECK_THROWS_WITH_AS(Template("hello {{name"), doctest::Contains("unclosed"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Template("hello {{ }}"), doctest::Contains("empty"), std::invalid_argument);
}
