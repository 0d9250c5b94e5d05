#include "engine/runtime/call_session.h"

#include <fmt/format.h>
#include <boost/container/small_vector.hpp>

#include <map>

#include "engine/core/exceptions.h"

namespace flowbatch {

CallSession::CallSession(CallShape& shape, BuildContext& context, std::size_t provider)
    : shape_(shape),
      run_(context.run),
      name_(context.node().name),
      lane_(context.lane(provider)),
      ok_(context.output(0)),
      error_(context.output(1)) {}

void CallSession::send(ItemVector items, std::vector<std::string> item_keys, std::string earlier_line) {
  // While requests wait for a slot, a new one waits unbuilt: its request and wire body are made
  // when its turn comes, so thousands of waiting items do not each hold them (issue 17).
  if (lane_.busy() && !batch_jobs()) {
    lane_.defer(
        *this, [this, items = std::move(items), keys = std::move(item_keys), line = std::move(earlier_line)]() mutable {
          return prepare(std::move(items), std::move(keys), std::move(line));
        });
    return;
  }
  if (ExchangePtr ex = prepare(std::move(items), std::move(item_keys), std::move(earlier_line)))
    lane_.submit(std::move(ex));
}

ExchangePtr CallSession::prepare(ItemVector items, std::vector<std::string> item_keys, std::string earlier_line) {
  auto ex = std::make_shared<Exchange>();
  ex->owner = this;
  ex->batch = batch_;
  ex->items = std::move(items);
  ex->item_keys = std::move(item_keys);
  ex->earlier_line = std::move(earlier_line);
  // One item alone: its line of an earlier run answers it, whatever attempt that was.
  if (ex->earlier_line.empty() && ex->items.size() == 1)
    if (BatchJobs* jobs = batch_jobs())
      ex->earlier_line = jobs->earlier_line(batch_->node, ex->items.front()).value_or(std::string());
  const std::int64_t now = RunState::unix_ms();
  for (Item& item : ex->items) {
    ++item.attempts;
    if (item.first_attempt_unix_ms == 0) item.first_attempt_unix_ms = now;
    item.last_attempt_unix_ms = now;
  }
  ex->bind_items();
  if (auto problem = shape_.build(*ex)) {  // nothing to send: it fails here, never counted as a request
    ex->result.failure = std::move(*problem);
    complete(ex);
    return nullptr;
  }
  if (run_.dry_calls) {
    settle_without_sending(*ex);
    return nullptr;
  }
  try {
    ex->dispatch = lane_.provider().dispatch(ex->request);
  } catch (...) {  // a plugin provider that throws: the items fail, the run goes on
    CallResult refused;
    refused.failure = make_failure(ErrorClass::invalid_request, current_exception_message());
    ex->dispatch = Dispatch::respond(std::move(refused));
  }
  shape_.look_up(*ex);
  return ex;
}

BatchJobs* CallSession::batch_jobs() const {
  return batch_ && batch_->mode != CallMode::online ? lane_.batch_jobs() : nullptr;
}

ItemVector CallSession::send_held_by_earlier_lines(ItemVector items,
                                                   const std::function<std::string(const Item&)>& key_of) {
  BatchJobs* jobs = batch_jobs();
  if (!jobs) return items;
  struct Held {
    ItemVector items;
    std::vector<std::string> keys;
  };
  std::map<std::string, Held> held;  // by line
  ItemVector rest;
  for (Item& item : items) {
    std::optional<std::string> line = jobs->earlier_line(batch_->node, item);
    if (!line) {
      rest.push_back(std::move(item));
      continue;
    }
    Held& group = held[*line];
    group.keys.push_back(key_of(item));
    group.items.push_back(std::move(item));
  }
  for (auto& [line, group] : held) {
    run_.metrics.batch_rejoined_items.fetch_add(group.items.size(), std::memory_order_relaxed);
    send(std::move(group.items), std::move(group.keys), line);
  }
  return rest;
}

/// flowbatch estimate --no-calls: the request's prompt tokens, estimated from its text, are what it
/// would have cost in; what it would answer is not known. Its items end here.
void CallSession::settle_without_sending(Exchange& ex) {
  ex.result.usage.input_tokens = ex.request.estimated_prompt_tokens();
  lane_.charge_unsent(ex);
  share_usage(ex);
  run_.ledger.end(ex.items, Ending::discarded);
}

void CallSession::answered_without_request(Item item) {
  std::lock_guard lock(answered_mutex_);
  answered_ok_.push_back(std::move(item));
}

void CallSession::complete(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  CallResult& result = ex.result;
  if (should_bisect(ex)) {
    run_.metrics.splits.fetch_add(1, std::memory_order_relaxed);
    const std::size_t half = (ex.items.size() + 1) / 2;
    send_in_groups(std::move(ex.items), std::move(ex.item_keys), half);
    return;
  }
  share_usage(ex);
  // Almost every request is for one item: no allocation for its verdict.
  boost::container::small_vector<Verdict, 1> verdicts(ex.items.size());
  if (result.failure) {
    for (auto& v : verdicts) v = Verdict::fail(*result.failure);
  } else {
    for (auto& output : result.outputs) run_.redactor.redact_json(output);  // a server may echo the key
    shape_.read(ex, std::span<Verdict>(verdicts.data(), verdicts.size()));
  }
  shape_.settled(ex, std::span<const Verdict>(verdicts.data(), verdicts.size()));

  // First the work that may take a while (redacting failures), then the hand-over under the lock.
  ItemVector again;
  std::vector<std::string> again_keys;
  for (std::size_t i = 0; i < ex.items.size(); ++i) {
    Item& item = ex.items[i];
    Verdict& verdict = verdicts[i];
    if (verdict.kind == Verdict::Kind::again && ex.items.size() == 1)  // already alone: again would change nothing
      verdict = Verdict::fail(make_failure(ErrorClass::malformed, "the answer did not hold this item's answer"));
    if (verdict.kind == Verdict::Kind::failed) record_failure(item, std::move(*verdict.failure), result);
    if (verdict.kind == Verdict::Kind::again) {
      if (!ex.item_keys.empty()) again_keys.push_back(std::move(ex.item_keys[i]));
      again.push_back(std::move(item));
    }
  }
  if (!again.empty()) {
    run_.metrics.pack_resends.fetch_add(again.size(), std::memory_order_relaxed);
    const std::size_t smaller = std::max<std::size_t>(1, ex.items.size() / 2);
    send_in_groups(std::move(again), std::move(again_keys), smaller);
  }
  std::lock_guard lock(answered_mutex_);
  for (std::size_t i = 0; i < ex.items.size(); ++i) {
    switch (verdicts[i].kind) {
      case Verdict::Kind::answered:
        ex.items[i].failure.reset();
        answered_ok_.push_back(std::move(ex.items[i]));
        break;
      case Verdict::Kind::failed: answered_failed_.push_back(std::move(ex.items[i])); break;
      case Verdict::Kind::again: break;  // sent again above
    }
  }
}

void CallSession::flush() {
  ItemVector ok, failed;
  {
    std::lock_guard lock(answered_mutex_);
    ok.swap(answered_ok_);
    failed.swap(answered_failed_);
  }
  ok_.emit(std::move(ok));
  error_.emit(std::move(failed));
}

bool CallSession::should_bisect(const Exchange& ex) {
  const auto& failure = ex.result.failure;
  return ex.items.size() > 1 && failure &&
         (failure->error_class == ErrorClass::invalid_request ||
          failure->error_class == ErrorClass::invalid_input);  // one item lacks a field: find it, send the rest
}

void CallSession::send_in_groups(ItemVector items, std::vector<std::string> keys, std::size_t group) {
  group = std::max<std::size_t>(1, group);
  for (std::size_t first = 0; first < items.size(); first += group) {
    const std::size_t last = std::min(items.size(), first + group);
    ItemVector part(std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(first)),
                    std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(last)));
    std::vector<std::string> part_keys;
    if (!keys.empty())
      part_keys.assign(std::make_move_iterator(keys.begin() + static_cast<std::ptrdiff_t>(first)),
                       std::make_move_iterator(keys.begin() + static_cast<std::ptrdiff_t>(last)));
    send(std::move(part), std::move(part_keys));
  }
}

/// Shares `amount` out over `items` by `weights` into `field`: each item's share is its share of
/// the weights, the largest remainders rounded up, so the shares add up to the whole exactly.
static void share_out(ItemVector& items, const std::vector<std::uint64_t>& weights, std::uint64_t amount,
                      std::int64_t Item::*field) {
  const std::size_t n = items.size();
  std::uint64_t total = 0;
  for (auto w : weights) total += w;
  std::vector<std::pair<std::uint64_t, std::size_t>> remainders;
  std::uint64_t given = 0;
  for (std::size_t i = 0; i < n; ++i) {
    // amount * w / total without overflow (w and total are prompt sizes, far below 2^32)
    const std::uint64_t part = (amount % total) * weights[i];
    const std::uint64_t whole = (amount / total) * weights[i] + part / total;
    items[i].*field += static_cast<std::int64_t>(whole);
    given += whole;
    remainders.emplace_back(part % total, i);
  }
  std::sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; given < amount && k < remainders.size(); ++k, ++given)
    items[remainders[k].second].*field += 1;
}

/// The tokens and money a request cost, on the run and on its items: each item's share is its
/// share of the prompt. An answer from the cache cost nothing now: what it cost once counts as saved.
void CallSession::share_usage(Exchange& ex) const {
  const Usage& usage = ex.result.usage;
  const auto in = static_cast<std::uint64_t>(std::max<std::int64_t>(0, usage.input_tokens));
  const auto out = static_cast<std::uint64_t>(std::max<std::int64_t>(0, usage.output_tokens));
  if (ex.from_cache) {
    count_saved_by_cache(usage, model_of(ex.request));
    return;
  }
  run_.metrics.input_tokens.fetch_add(in, std::memory_order_relaxed);
  run_.metrics.output_tokens.fetch_add(out, std::memory_order_relaxed);
  const std::size_t n = ex.items.size();
  if (!ex.priced)
    for (Item& item : ex.items) item.cost_nano_usd = -1;  // unknown, and stays so whatever else it costs
  if (n == 0 || (in == 0 && out == 0)) return;
  const auto cost = static_cast<std::uint64_t>(std::max<NanoUsd>(0, ex.cost));
  if (n == 1) {  // the common case: one item, all of it
    Item& item = ex.items[0];
    item.input_tokens += static_cast<std::int64_t>(in);
    item.output_tokens += static_cast<std::int64_t>(out);
    if (item.cost_nano_usd >= 0) item.cost_nano_usd += static_cast<std::int64_t>(cost);
    return;
  }
  std::vector<std::uint64_t> weights(n, 1);
  if (ex.weights.size() == n) {
    for (std::size_t i = 0; i < n; ++i) weights[i] = std::max<std::uint64_t>(1, ex.weights[i]);
  }
  share_out(ex.items, weights, in, &Item::input_tokens);
  share_out(ex.items, weights, out, &Item::output_tokens);
  if (!ex.priced) return;
  std::vector<std::int64_t> before(n);
  for (std::size_t i = 0; i < n; ++i) before[i] = ex.items[i].cost_nano_usd;
  share_out(ex.items, weights, cost, &Item::cost_nano_usd);
  for (std::size_t i = 0; i < n; ++i)
    if (before[i] < 0) ex.items[i].cost_nano_usd = -1;
}

void CallSession::count_saved_by_cache(const Usage& usage, std::string_view model) const {
  Metrics& m = run_.metrics;
  m.cache_saved_input_tokens.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, usage.input_tokens)),
                                       std::memory_order_relaxed);
  m.cache_saved_output_tokens.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, usage.output_tokens)),
                                        std::memory_order_relaxed);
  if (auto price = lane_.price_of(model)) {
    const NanoUsd saved = cost_of(usage, *price);
    m.saved_cache_nano.fetch_add(saved, std::memory_order_relaxed);
    add_saved(saved);
  }
}

void CallSession::count_saved_by_packing(std::int64_t input_tokens, std::string_view model) const {
  run_.metrics.pack_saved_input_tokens.fetch_add(input_tokens, std::memory_order_relaxed);
  if (auto price = lane_.price_of(model)) {
    Usage usage;
    usage.input_tokens = std::abs(input_tokens);
    const NanoUsd saved = input_tokens < 0 ? -cost_of(usage, *price) : cost_of(usage, *price);
    run_.metrics.saved_pack_nano.fetch_add(saved, std::memory_order_relaxed);
    add_saved(saved);
  }
}

void CallSession::add_saved(NanoUsd saved) const {
  lane_.stats().saved_nano.fetch_add(saved, std::memory_order_relaxed);
}

void CallSession::record_failure(Item& item, Failure failure, const CallResult& result) const {
  failure.node = name_;
  failure.message = run_.redactor.redact_and_cut(failure.message, Redactor::kMaxMessageBytes);
  if (failure.request_id.empty()) failure.request_id = result.request_id;
  if (failure.http_status == 0) failure.http_status = result.http_status;
  item.error_history.push_back(failure.error_class);
  run_.metrics.count_attempt_error(failure, item.id);
  item.failure = std::move(failure);
}

}  // namespace flowbatch
