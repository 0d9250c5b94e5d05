#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "nodes/calls/pack_format.h"
#include "nodes/calls/pack_simulation.h"

using namespace flowbatch;

namespace {
boost::json::value echo_answer(std::string_view input, bool json) {
  if (json) return boost::json::object{{"echo", input}};
  return boost::json::string("re: " + std::string(input));
}

std::vector<pack::Result> results_of(const std::string& text, std::string_view prefill = {}) {
  auto read = pack::read_answer(text, prefill);
  REQUIRE(std::holds_alternative<std::vector<pack::Result>>(read));
  return std::get<std::vector<pack::Result>>(read);
}
}  // namespace

TEST_CASE("a packed user message carries every input by id, and a model can read them back") {
  const std::vector<pack::Input> inputs = {{"a", "first \"quoted\" input"}, {"b", "second\nline"}};
  const std::string text = pack::user_message(inputs, false);
  CHECK(text.find("{\"results\": [{\"id\"") != std::string::npos);
  auto back = pack::read_inputs(text);
  REQUIRE(back);
  REQUIRE(back->size() == 2);
  CHECK((*back)[0].id == "a");
  CHECK((*back)[1].input == "second\nline");
  CHECK_FALSE(pack::asks_for_json_outputs(text));
  CHECK(pack::asks_for_json_outputs(pack::user_message(inputs, true)));
  CHECK_FALSE(pack::read_inputs("just a prompt"));
}

TEST_CASE("an answer is read by id: fenced, prefilled, numeric ids, and broken ones say why") {
  auto r = results_of(
      "```json\n{\"results\": [{\"id\": \"b\", \"output\": \"two\"}, {\"id\": 7, \"output\": \"seven\"}]}\n```");
  REQUIRE(r.size() == 2);
  CHECK(r[0].id == "b");
  CHECK(r[1].id == "7");
  auto continued = results_of("{\"id\": \"a\", \"output\": {\"x\": 1}}]}", pack::kPrefill);
  REQUIRE(continued.size() == 1);
  CHECK(continued[0].output.at("x") == 1);
  CHECK(std::holds_alternative<std::string>(pack::read_answer("{\"results\": [{\"id\": \"a\"")));
  CHECK(std::get<std::string>(pack::read_answer("{\"answers\": []}")).find("no \"results\"") != std::string::npos);
  CHECK(results_of("{\"results\": [{\"output\": \"no id\"}, 3]}").empty());
}

TEST_CASE("the strict JSON schema asks for string outputs, or the given shape of one output") {
  const auto text = pack::response_format(false, nullptr);
  CHECK(text.at("type") == "json_schema");
  CHECK(text.at("json_schema").at("strict") == true);
  const auto& item = text.at("json_schema").at("schema").at("properties").at("results").at("items");
  CHECK(item.at("properties").at("output").at("type") == "string");
  const boost::json::value shape = boost::json::object{{"type", "object"}};
  CHECK(pack::response_format(true, shape)
            .at("json_schema")
            .at("schema")
            .at("properties")
            .at("results")
            .at("items")
            .at("properties")
            .at("output") == shape);
  CHECK(pack::response_format(true, nullptr).at("type") == "json_object");
}

TEST_CASE("the simulated model answers each input as alone, and injects each fault on demand") {
  const std::string prompt = pack::user_message({{"a", "one"}, {"b", "two"}, {"c", "three"}}, false);
  auto never = [](std::uint64_t) { return 0.99; };
  auto reply = pack::answer_packed(prompt, echo_answer, {}, never, 0);
  REQUIRE(reply);
  auto r = results_of(reply->text);
  REQUIRE(r.size() == 3);
  CHECK(r[1].id == "b");
  CHECK(r[1].output == "re: two");

  auto always = [](std::uint64_t) { return 0.0; };
  auto faulty = pack::answer_packed(prompt, echo_answer, {.drop = 1, .duplicate = 1, .foreign = 1}, always, 0);
  REQUIRE(faulty);
  auto f = results_of(faulty->text);
  CHECK(f.size() == 4);  // 3 + a second answer + a foreign one - one dropped
  int foreign = 0;
  for (const auto& x : f) foreign += x.id.starts_with("not-asked") ? 1 : 0;
  CHECK(foreign == 1);

  auto cut = pack::answer_packed(prompt, echo_answer, {.cut = 1}, always, 0);
  REQUIRE(cut);
  CHECK(cut->cut);
  CHECK(std::holds_alternative<std::string>(pack::read_answer(cut->text)));

  auto prefilled = pack::answer_packed(prompt, echo_answer, {}, never, 0, pack::kPrefill);
  REQUIRE(prefilled);
  CHECK(prefilled->text.substr(0, 2) == "{\"");  // continues after `{"results": [`
  CHECK(results_of(prefilled->text, pack::kPrefill).size() == 3);
}
