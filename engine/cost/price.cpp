#include "engine/cost/price.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include <cmath>

#include "engine/core/model_table.h"

namespace flowbatch {

NanoUsd from_usd(double usd) { return static_cast<NanoUsd>(std::llround(usd * kNanoPerUsd)); }

namespace {

/// tokens × USD per million tokens, in nano-dollars: tokens × price × 1000.
double nano(std::int64_t tokens, double usd_per_million) { return static_cast<double>(tokens) * usd_per_million * 1e3; }

double or_input(double price, double input) { return price < 0 ? input : price; }

std::optional<std::string> read_price(const std::string& model, const boost::json::value& v, Price& p) {
  if (!v.is_object()) return fmt::format("\"{}\": expected a table such as {{ input = 0.15, output = 0.6 }}", model);
  bool has_input = false, has_output = false;
  for (const auto& [key, value] : v.get_object()) {
    const bool number = value.is_number();
    const double x = number ? value.to_number<double>() : 0;
    if (!number || x < 0 || !std::isfinite(x))
      return fmt::format("\"{}\".{}: expected a number of at least 0", model, std::string_view(key));
    if (key == "input") p.input = x, has_input = true;
    else if (key == "output") p.output = x, has_output = true;
    else if (key == "cached_input") p.cached_input = x;
    else if (key == "cache_write") p.cache_write = x;
    else if (key == "batch_discount") {
      if (x > 1) return fmt::format("\"{}\".batch_discount: a share, between 0 and 1 (0.5: half price)", model);
      p.batch_discount = x;
    } else if (key == "max_output") p.max_output = static_cast<std::int64_t>(x);
    else if (key == "cache_min_tokens") p.cache_min_tokens = static_cast<std::int64_t>(x);
    else
      return fmt::format(
          "\"{}\": unknown key \"{}\" (known: input, output, cached_input, cache_write, batch_discount, max_output, "
          "cache_min_tokens; USD per million tokens)",
          model, std::string_view(key));
  }
  if (!has_input || !has_output)
    return fmt::format("\"{}\": needs both input and output (USD per million tokens)", model);
  return std::nullopt;
}

}  // namespace

NanoUsd cost_of(const Usage& usage, const Price& price, bool batch) {
  const std::int64_t cached = std::max<std::int64_t>(0, usage.cached_input_tokens);
  const std::int64_t written = std::max<std::int64_t>(0, usage.cache_write_tokens);
  const std::int64_t plain = std::max<std::int64_t>(0, usage.input_tokens - cached - written);
  double total = nano(plain, price.input) + nano(cached, or_input(price.cached_input, price.input)) +
                 nano(written, or_input(price.cache_write, price.input)) +
                 nano(std::max<std::int64_t>(0, usage.output_tokens), price.output);
  if (batch) total *= 1 - price.batch_discount;
  return static_cast<NanoUsd>(std::llround(total));
}

NanoUsd worst_cost(std::int64_t input_tokens, std::int64_t max_output, const Price& price, bool batch) {
  const double input =
      std::max({price.input, or_input(price.cached_input, price.input), or_input(price.cache_write, price.input)});
  double total = nano(input_tokens, input) + nano(max_output, price.output);
  if (batch) total *= 1 - price.batch_discount;
  // Rounded up: a reservation may never be below what the request can cost.
  return static_cast<NanoUsd>(std::ceil(total));
}

std::variant<PriceList, std::string> PriceList::parse(const boost::json::value& table) {
  PriceList list;
  if (table.is_null()) return list;
  if (!table.is_object())
    return std::string("expected a table of models, e.g. { \"gpt-4o-mini\" = { input = 0.15, output = 0.6 } }");
  for (const auto& [key, value] : table.get_object()) {
    Price p;
    const std::string model(key);
    if (auto problem = read_price(model, value, p)) return *problem;
    list.own_.emplace(model, p);
  }
  return list;
}

void PriceList::override_with(const PriceList& mine) {
  PriceList merged;
  merged.own_ = mine.own_;
  merged.shipped_ = own_;  // what this list held becomes the fallback
  for (const auto& [model, price] : shipped_) merged.shipped_.emplace(model, price);
  *this = std::move(merged);
}

std::optional<Price> PriceList::find_in(const std::map<std::string, Price, std::less<>>& table,
                                        std::string_view model) {
  if (const Price* found = model_entry(table, model)) return *found;
  return std::nullopt;
}

std::optional<Price> PriceList::find(std::string_view model) const {
  if (auto p = find_in(own_, model)) return p;
  return find_in(shipped_, model);
}

}  // namespace flowbatch
