#pragma once
// What tokens cost: a model's prices, the price list of one provider (the prices its type ships,
// under the graph's own), and the cost of a request's usage. Amounts are integers of nano-dollars
// (1e-9 USD), so sums over millions of requests are exact and atomics can hold them.
#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "flowbatch/provider.h"

namespace flowbatch {

/// Nano-dollars: 1e-9 USD.
using NanoUsd = std::int64_t;
constexpr double kNanoPerUsd = 1e9;
constexpr double to_usd(NanoUsd n) { return static_cast<double>(n) / kNanoPerUsd; }
NanoUsd from_usd(double usd);

/// One model's prices, in USD per million tokens.
struct Price {
  double input = 0;
  double cached_input = -1;  ///< input read from the provider's prompt cache; -1: as `input`
  double cache_write = -1;   ///< input written to the prompt cache (Anthropic); -1: as `input`
  double output = 0;
  double batch_discount = 0.5;        ///< the share the provider's Batch API takes off (0.5: half price)
  std::int64_t max_output = 0;        ///< the most output tokens one answer may have (0: unknown)
  std::int64_t cache_min_tokens = 0;  ///< the shortest prompt prefix the provider caches (0: unknown)
};

/// What `usage` cost at `price` (its cached and cache-written tokens at their own prices).
NanoUsd cost_of(const Usage& usage, const Price& price, bool batch = false);
/// The most a request may cost: every input token at the highest input price, `max_output`
/// output tokens (`batch`: at the batch API's discount).
NanoUsd worst_cost(std::int64_t input_tokens, std::int64_t max_output, const Price& price, bool batch = false);

/// The prices of one provider's models: exact names first, then the longest name that a model's
/// name starts with followed by '-' (a dated snapshot: "gpt-4o-mini-2024-07-18" is "gpt-4o-mini"),
/// then "*". The graph's own prices ([providers.X.prices]) come before the shipped ones.
class PriceList {
 public:
  /// Reads {"model": {"input": 0.15, "output": 0.6, ...}, ...}; an error says which model and key.
  static std::variant<PriceList, std::string> parse(const boost::json::value& table);
  /// The graph's prices over these (shipped) ones.
  void override_with(const PriceList& mine);
  std::optional<Price> find(std::string_view model) const;
  bool empty() const { return own_.empty() && shipped_.empty(); }

 private:
  static std::optional<Price> find_in(const std::map<std::string, Price, std::less<>>& table, std::string_view model);
  std::map<std::string, Price, std::less<>> own_;
  std::map<std::string, Price, std::less<>> shipped_;
};

}  // namespace flowbatch
