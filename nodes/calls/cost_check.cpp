#include "nodes/calls/cost_check.h"

#include <fmt/format.h>

#include "engine/graph/pipeline_options.h"

namespace flowbatch {

void check_call_cost(ParseContext& context, const CallCost& call) {
  Options& o = context.options;
  if (call.provider >= context.providers.size() || call.model.empty()) return;
  const PlanProvider& provider = context.providers[call.provider];
  if (!provider.provider) return;  // its own error says enough
  const bool capped = context.pipeline.max_cost_usd > 0;
  const std::optional<Price> price = provider.prices.find(call.model);
  if (!price) {
    const std::string why = fmt::format(
        "model \"{}\" has no known price on provider \"{}\" (type {}): {}; set [providers.{}.prices] "
        "\"{}\" = {{ input = ..., output = ... }} (USD per million tokens)",
        call.model, provider.name, provider.type,
        capped ? "max_cost_usd cannot bound what it cannot price" : "its cost will be reported as unknown",
        provider.name, call.model);
    if (capped) o.error("model", why);
    else o.warning("model", why);
    return;
  }
  if (capped && !call.embeddings && !call.max_tokens && price->max_output <= 0)
    o.error("max_tokens",
            fmt::format("max_cost_usd needs a bound on each answer: set max_tokens (model \"{}\" has no max_output "
                        "in its price)",
                        call.model));
}

}  // namespace flowbatch
