#include "nodes/calls/batch_mode.h"

#include <fmt/format.h>

#include "engine/core/text.h"
#include "engine/graph/plan.h"
#include "flowbatch/batch.h"

namespace flowbatch {

std::vector<KeySpec> batch_mode_keys() {
  return {
      {"mode",
       KeyKind::string,
       false,
       "online",
       "online | batch (the provider's batch API, at its discount) | auto (batch, online when too few or too late)",
       {"online", "batch", "auto"}},
      {"batch_min_items", KeyKind::integer, false, "100", "auto: a batch job of fewer requests goes online instead"},
      {"batch_deadline", KeyKind::string, false, "24h",
       "auto: a batch job not done this long after it was created is cancelled and what is left goes online "
       "(\"2h\", \"90m\", \"1d\")"},
      {"batch_max_items", KeyKind::integer, false, "0", "the most requests in one batch job (0: the provider's limit)"},
      {"batch_collect_ms", KeyKind::integer, false, "2000",
       "a batch job is sent once no new request came for this long (or it is full)"},
      {"poll_interval_ms", KeyKind::integer, false, "30000",
       "how often batch jobs are polled; the interval grows while nothing changes"},
  };
}

BatchSettings read_batch_mode(Options& o, const PlanProvider* provider) {
  BatchSettings s;
  const std::string mode = o.string("mode");
  s.mode = mode == "batch" ? CallMode::batch : mode == "auto" ? CallMode::automatic : CallMode::online;
  s.node = std::string(o.node_name());
  const std::int64_t min_items = o.integer("batch_min_items");
  if (min_items < 0) o.error("batch_min_items", "must be at least 0");
  s.min_items = static_cast<std::size_t>(std::max<std::int64_t>(0, min_items));
  if (auto seconds = parse_age(o.string("batch_deadline"))) s.deadline = std::chrono::seconds(*seconds);
  else o.error("batch_deadline", "must be a duration like \"2h\", \"90m\", \"1d\" or \"600s\"");
  const std::int64_t max_items = o.integer("batch_max_items");
  if (max_items < 0) o.error("batch_max_items", "must be at least 0 (0: the provider's limit)");
  s.max_items = static_cast<std::size_t>(std::max<std::int64_t>(0, max_items));
  const std::int64_t collect = o.integer("batch_collect_ms");
  if (collect < 1) o.error("batch_collect_ms", "must be at least 1");
  s.collect = std::chrono::milliseconds(std::max<std::int64_t>(1, collect));
  const std::int64_t poll = o.integer("poll_interval_ms");
  if (poll < 10) o.error("poll_interval_ms", "must be at least 10");
  s.poll_interval = std::chrono::milliseconds(std::max<std::int64_t>(10, poll));
  if (s.mode != CallMode::online && provider && provider->provider && !provider->provider->batch_api())
    o.error("mode", fmt::format("provider \"{}\" ({}) has no batch API; mode \"{}\" needs openai or anthropic",
                                provider->name, provider->type, mode));
  return s;
}

}  // namespace flowbatch
