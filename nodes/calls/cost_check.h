#pragma once
// What a call's settings mean for money, checked once when the graph is read: a model with no
// known price is reported as unknown (never a silent 0) — a warning, or an error under a cost cap,
// which can bound only what it can price.
#include <optional>
#include <string>

#include "engine/graph/node_kind.h"

namespace flowbatch {

struct CallCost {
  std::size_t provider = 0;
  std::string model;  ///< empty: each request names its own (passthrough)
  std::optional<std::int64_t> max_tokens;
  bool embeddings = false;
};

void check_call_cost(ParseContext& context, const CallCost& call);

}  // namespace flowbatch
