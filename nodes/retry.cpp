// [retries.NAME]: takes failed items and sends those worth another try back after an
// exponential, jittered back-off (the server's Retry-After wins when given). Waiting items sit in
// the engine's timer, not on a thread. Items that may not be retried (their class is not in
// retry_on, or attempts or time ran out) leave on `NAME.exhausted`.
#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "engine/core/backoff.h"
#include "engine/core/text.h"
#include "engine/runtime/build_context.h"
#include "engine/runtime/node_runtime.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

// Set only by parse(), from the keys: their defaults live in the KeySpecs (one source of truth).
struct RetryConfig final : NodeConfig {
  std::uint32_t max_attempts{};
  Backoff backoff;
  std::chrono::milliseconds max_elapsed{};  // 0: no limit
  std::vector<ErrorClass> retry_on;

  bool retries(ErrorClass c) const { return std::find(retry_on.begin(), retry_on.end(), c) != retry_on.end(); }
  std::string label() const override {
    std::vector<std::string> classes;
    for (ErrorClass c : retry_on) classes.emplace_back(to_string(c));
    return fmt::format("max_attempts={} backoff={}..{} ms\nretry_on={}", max_attempts, backoff.initial.count(),
                       backoff.max.count(), join(classes, ","));
  }
};

/// An item on its way into the timer, with how long it must wait.
struct Waiting {
  Packet packet;
  std::chrono::milliseconds delay{0};
};

class RetryRuntime final : public NodeRuntime {
 public:
  using Waiter = flow::async_node<Waiting, Packet>;

  RetryRuntime(const RetryConfig& config, BuildContext& context)
      : config_(config),
        run_(context.run),
        stats_(context.stats),
        again_(context.output(0)),
        exhausted_(context.output(1)),
        decide_(context.graph, flow::unlimited,
                [this](const Packet& p) {
                  decide(p);
                  return flow::continue_msg();
                }),
        waiter_(context.graph, flow::unlimited, [this](const Waiting& w, Waiter::gateway_type& gw) { wait(w, gw); }),
        release_(context.graph, flow::unlimited, [this](const Packet& p) {
          run_.metrics.retry_waiting.fetch_sub(static_cast<std::int64_t>(p.items->size()));
          again_.emit(std::move(*p.items));
          return flow::continue_msg();
        }) {
    flow::make_edge(waiter_, release_);
  }

  flow::receiver<Packet>* input() override { return &decide_; }

 private:
  void decide(const Packet& packet) {
    ItemVector& items = *packet.items;
    stats_.received.fetch_add(items.size(), std::memory_order_relaxed);
    ItemVector give_up;
    const std::int64_t now = RunState::unix_ms();
    for (Item& item : items) {
      const auto delay = retry_delay(item, now);
      if (!delay) {
        give_up.push_back(std::move(item));
        continue;
      }
      ItemVector one;
      one.push_back(std::move(item));
      run_.metrics.retries.fetch_add(1, std::memory_order_relaxed);
      run_.metrics.retry_waiting.fetch_add(1);
      waiter_.try_put(Waiting{Packet::of(std::move(one)), *delay});
    }
    exhausted_.emit(std::move(give_up));
  }

  std::optional<std::chrono::milliseconds> retry_delay(const Item& item, std::int64_t now_ms) const {
    if (!item.failure) return std::nullopt;
    // The server's x-should-retry overrides the class-based policy, both ways.
    const bool worth_it = item.failure->should_retry.value_or(config_.retries(item.failure->error_class));
    if (!worth_it) return std::nullopt;
    if (item.attempts >= config_.max_attempts) return std::nullopt;
    if (config_.max_elapsed.count() > 0 && now_ms - item.first_attempt_unix_ms >= config_.max_elapsed.count())
      return std::nullopt;
    if (item.failure->retry_after_ms >= 0) return std::chrono::milliseconds(item.failure->retry_after_ms);
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return config_.backoff.delay(item.attempts, rng);
  }

  /// Hands the item to the engine's timer; the gateway's reserve_wait keeps the run alive until
  /// the timer fires. A drain (Ctrl-C) or a hard stop cuts the wait short and abandons the item:
  /// no new attempt starts after an interrupt, and a resumed run does it again.
  void wait(const Waiting& w, Waiter::gateway_type& gateway) {
    gateway.reserve_wait();
    Packet packet = w.packet;
    run_.loop.after_skippable(
        w.delay,
        [packet, &gateway] {
          gateway.try_put(packet);
          gateway.release_wait();
        },
        [this, packet, &gateway] {
          run_.metrics.retry_waiting.fetch_sub(static_cast<std::int64_t>(packet.items->size()));
          run_.ledger.end(*packet.items, Ending::abandoned);
          gateway.release_wait();
        });
  }

  const RetryConfig& config_;
  RunState& run_;
  NodeStats& stats_;
  OutputPort& again_;
  OutputPort& exhausted_;
  flow::function_node<Packet, flow::continue_msg> decide_;
  Waiter waiter_;
  flow::function_node<Packet, flow::continue_msg> release_;
};

std::unique_ptr<NodeConfig> parse_retry(ParseContext& ctx) {
  Options& o = ctx.options;
  auto config = std::make_unique<RetryConfig>();
  const std::int64_t attempts = o.integer("max_attempts");
  if (attempts < 1) o.error("max_attempts", "must be at least 1 (1: never retry)");
  else config->max_attempts = static_cast<std::uint32_t>(attempts);

  const std::int64_t initial = o.integer("initial_backoff_ms");
  const std::int64_t max = o.integer("max_backoff_ms");
  if (initial < 0) o.error("initial_backoff_ms", "must not be negative");
  if (max < initial) o.error("max_backoff_ms", "must be at least initial_backoff_ms");
  config->backoff.initial = std::chrono::milliseconds(std::max<std::int64_t>(0, initial));
  config->backoff.max = std::chrono::milliseconds(std::max(initial, max));
  config->backoff.multiplier = o.number("multiplier");
  if (config->backoff.multiplier < 1.0) o.error("multiplier", "must be at least 1");

  const std::string jitter = o.string("jitter");  // one of the key's choices: the reader checked it
  if (jitter == "equal") config->backoff.jitter = Jitter::equal;
  else if (jitter == "none") config->backoff.jitter = Jitter::none;
  else config->backoff.jitter = Jitter::full;

  const std::int64_t elapsed = o.integer("max_elapsed_ms");
  if (elapsed < 0) o.error("max_elapsed_ms", "must not be negative (0: no limit)");
  else config->max_elapsed = std::chrono::milliseconds(elapsed);

  for (const auto& name : o.strings("retry_on"))  // each one of the key's choices: the reader checked them
    if (auto c = parse_error_class(name)) config->retry_on.push_back(*c);
  return config;
}

}  // namespace

namespace {
std::vector<std::string> error_class_names() {
  std::vector<std::string> names;
  names.reserve(std::size(kAllErrorClasses));
  for (ErrorClass c : kAllErrorClasses) names.emplace_back(to_string(c));
  return names;
}
}  // namespace

NodeKind retry_kind() {
  NodeKind k;
  k.table = "retries";
  k.name = "retry";
  k.summary = "sends failed items back after a jittered exponential back-off; gives up on `exhausted`";
  k.keys = {
      {"max_attempts", KeyKind::integer, false, "3", "attempts in all, the first included"},
      {"initial_backoff_ms", KeyKind::integer, false, "500", "the wait before the first retry"},
      {"max_backoff_ms", KeyKind::integer, false, "30000", "the longest wait between attempts"},
      {"multiplier", KeyKind::number, false, "2", "each wait is this many times the previous one"},
      {"jitter",
       KeyKind::string,
       false,
       "full",
       "how much of each wait is random: full, equal (half) or none",
       {"full", "equal", "none"}},
      {"max_elapsed_ms", KeyKind::integer, false, "0", "give up this long after the first attempt (0: never)"},
      {"retry_on", KeyKind::string_list, false, "rate_limit,server,timeout,network,malformed",
       "the error classes worth another try", error_class_names()},
  };
  k.outputs = {{"", PortKind::items}, {"exhausted", PortKind::failed}};
  k.accepts = {PortKind::failed};
  k.breaks_cycles = true;
  k.parse = parse_retry;
  k.build = [](const NodeConfig& config, BuildContext& context) -> std::unique_ptr<NodeRuntime> {
    return std::make_unique<RetryRuntime>(static_cast<const RetryConfig&>(config), context);
  };
  return k;
}

}  // namespace flowbatch
