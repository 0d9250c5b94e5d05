#include "engine/cost/price.h"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace flowbatch;

namespace {

PriceList parse(const char* json) {
  auto parsed = PriceList::parse(boost::json::parse(json));
  REQUIRE(std::holds_alternative<PriceList>(parsed));
  return std::get<PriceList>(parsed);
}

std::string problem(const char* json) {
  auto parsed = PriceList::parse(boost::json::parse(json));
  REQUIRE(std::holds_alternative<std::string>(parsed));
  return std::get<std::string>(parsed);
}

Usage usage(std::int64_t in, std::int64_t out, std::int64_t cached = 0, std::int64_t written = 0) {
  Usage u;
  u.input_tokens = in;
  u.output_tokens = out;
  u.cached_input_tokens = cached;
  u.cache_write_tokens = written;
  return u;
}

}  // namespace

TEST_CASE("a model's price is found by its name, a dated snapshot of it, or \"*\"") {
  const PriceList list = parse(R"({"gpt-4o": {"input": 2.5, "output": 10},
                                   "gpt-4o-mini": {"input": 0.15, "output": 0.6}})");
  CHECK(list.find("gpt-4o")->input == 2.5);
  CHECK(list.find("gpt-4o-mini")->input == 0.15);
  CHECK(list.find("gpt-4o-mini-2024-07-18")->input == 0.15);  // the longest name it starts with
  CHECK(list.find("gpt-4o-2024-08-06")->input == 2.5);
  CHECK_FALSE(list.find("gpt-4"));       // a prefix without '-' after it is another model
  CHECK_FALSE(list.find("gpt-4omega"));  // likewise
  CHECK_FALSE(list.find(""));
  CHECK(parse(R"({"*": {"input": 0, "output": 0}})").find("anything")->output == 0);
}

TEST_CASE("the graph's prices come before the shipped ones, whole models at a time") {
  PriceList shipped = parse(R"({"gpt-4o-mini": {"input": 0.15, "output": 0.6, "max_output": 16384},
                                "gpt-4o": {"input": 2.5, "output": 10}})");
  shipped.override_with(
      parse(R"({"gpt-4o-mini": {"input": 0.1, "output": 0.5}, "local-*": {"input": 0, "output": 0}})"));
  CHECK(shipped.find("gpt-4o-mini")->input == 0.1);
  CHECK(shipped.find("gpt-4o-mini")->max_output == 0);  // the graph's entry replaces the shipped one whole
  CHECK(shipped.find("gpt-4o")->output == 10);          // what the graph does not name keeps its price
  CHECK(shipped.find("gpt-4o-mini-2024-07-18")->input == 0.1);

  PriceList with_star = parse(R"({"gpt-4o": {"input": 2.5, "output": 10}})");
  with_star.override_with(parse(R"({"*": {"input": 0, "output": 0}})"));
  CHECK(with_star.find("gpt-4o")->input == 0);  // the user's "*" is the user's word for every model
}

TEST_CASE("a request's cost prices cached reads, cache writes and output apart, in nano-dollars") {
  const Price p =
      parse(R"({"m": {"input": 3, "cached_input": 0.3, "cache_write": 3.75, "output": 15}})").find("m").value();
  CHECK(cost_of(usage(1'000'000, 0), p) == from_usd(3));
  CHECK(cost_of(usage(0, 1'000'000), p) == from_usd(15));
  // 1,000 tokens: 200 plain, 500 read from the cache, 300 written to it; 100 out.
  CHECK(cost_of(usage(1000, 100, 500, 300), p) == 200 * 3000 + 500 * 300 + 300 * 3750 + 100 * 15000);
  CHECK(cost_of(usage(1000, 100), p, /*batch=*/true) == (1000 * 3000 + 100 * 15000) / 2);
  // Unset cached prices are the input price.
  const Price plain = parse(R"({"m": {"input": 1, "output": 2}})").find("m").value();
  CHECK(cost_of(usage(10, 0, 5, 5), plain) == cost_of(usage(10, 0), plain));
  CHECK(cost_of(usage(-5, -5), plain) == 0);  // a nonsense usage costs nothing rather than negative money
}

TEST_CASE("the worst case of a request is never below what it can cost") {
  const Price p =
      parse(R"({"m": {"input": 0.15, "cached_input": 0.075, "cache_write": 0.2, "output": 0.6}})").find("m").value();
  const NanoUsd worst = worst_cost(1000, 200, p);
  CHECK(worst >= cost_of(usage(1000, 200), p));
  CHECK(worst >= cost_of(usage(1000, 200, 0, 1000), p));  // all of it written to the cache: the dearest input
  CHECK(worst == 1000 * 200 + 200 * 600);
}

TEST_CASE("a price table with a mistake says which model and which key") {
  CHECK(problem(R"({"m": {"input": 1}})").find("needs both input and output") != std::string::npos);
  CHECK(problem(R"({"m": {"input": -1, "output": 1}})").find("\"m\".input") != std::string::npos);
  CHECK(problem(R"({"m": {"input": 1, "output": 1, "inptu": 2}})").find("unknown key \"inptu\"") != std::string::npos);
  CHECK(problem(R"({"m": {"input": 1, "output": 1, "batch_discount": 2}})").find("batch_discount") !=
        std::string::npos);
  CHECK(problem(R"({"m": 0.15})").find("expected a table") != std::string::npos);
  CHECK(problem(R"([1, 2])").find("expected a table of models") != std::string::npos);
}
