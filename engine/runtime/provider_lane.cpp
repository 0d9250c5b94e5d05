#include "engine/runtime/provider_lane.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/parse.hpp>

#include "engine/core/exceptions.h"
#include "engine/core/tokens.h"
#include "engine/runtime/run_window_gate.h"

namespace flowbatch {

ProviderLane::ProviderLane(flow::graph& graph, const PlanProvider& provider, RunState& run, HttpClient& http,
                           JobQueue& blocking, Logger log)
    : spec_(provider),
      run_(run),
      http_(http),
      blocking_(blocking),
      log_(std::move(log)),
      stats_(run.metrics.add_provider(provider.name, provider.type)),
      gate_(make_rate_gate(provider.settings.rate, run.loop, log_,
                           [&run, name = provider.name](const std::string& why) {
                             run.stop_resumable(fmt::format("provider \"{}\": {}", name, why));
                           })),
      transport_(graph, flow::unlimited, [](const ExchangePtr&, Transport::gateway_type&) {}),
      complete_(graph, flow::unlimited, [this](const ExchangeBatch& batch) {
        const std::span<const ExchangePtr> all(*batch);
        std::size_t begin = 0, slots = 0;
        for (std::size_t i = 0; i < all.size(); ++i) {
          if (all[i]->batched || ++slots < kAnswersPerStep) continue;
          complete_step(all.subspan(begin, i + 1 - begin));
          begin = i + 1;
          slots = 0;
        }
        if (begin < all.size()) complete_step(all.subspan(begin));
        return flow::continue_msg();
      }) {
  flow::make_edge(transport_, complete_);
  slots_open_ = provider.settings.rate.concurrency_limit;
  update_busy();
}

void ProviderLane::complete_step(std::span<const ExchangePtr> answers) {
  std::vector<ExchangeOwner*> owners;
  std::vector<AttemptFeedback> feedback;
  std::size_t slots = 0;  // a request of a batch job never took one
  for (const ExchangePtr& exchange : answers) {
    completed(exchange, feedback);
    if (!exchange->batched) ++slots;
    if (std::find(owners.begin(), owners.end(), exchange->owner) == owners.end()) owners.push_back(exchange->owner);
  }
  for (ExchangeOwner* owner : owners) owner->flush();
  // After complete: the answers are remembered before another request starts.
  if (!feedback.empty()) gate_->finished_all(feedback);
  // Given back once the answers are fully handled (cached, when the call caches): so no
  // more than max_concurrency requests are ever "sent but not yet remembered".
  free_slots(slots);
}

void ProviderLane::change_limits(const RateGate::LimitChange& change, std::function<void()> applied) {
  if (change.concurrency) open_slots(std::min(*change.concurrency, spec_.settings.rate.highest_concurrency()));
  gate_->change_limits(change, std::move(applied));
}

void ProviderLane::open_slots(std::size_t wanted) {
  {
    std::lock_guard lock(slots_mutex_);
    if (wanted <= slots_open_) return;  // a lower limit is the gate's to hold: the slots stay open
    slots_open_ = wanted;
    update_busy();
  }
  pump();
}

bool ProviderLane::enable_batches(const std::string& pipeline) {
  const BatchApi* api = spec_.provider->batch_api();
  if (!api) return false;
  if (!batches_) {
    const ProviderSettings& s = spec_.settings;
    const TransferOptions options{s.timeout, s.connect_timeout, s.ca_file.empty() ? nullptr : s.ca_file.c_str(),
                                  static_cast<std::size_t>(s.low_speed_limit), s.low_speed_time};
    batches_ = std::make_unique<BatchJobs>(*this, *api, run_, http_, options, log_, pipeline);
  }
  return true;
}

void ProviderLane::send_online(const ExchangePtr& exchange) {
  send_to_transport(exchange);
  transport_.gateway().release_wait();  // the online path holds the graph from here on
}

void ProviderLane::submit(ExchangePtr exchange) {
  if (!answer_at_once(exchange)) send_to_transport(exchange);
}

bool ProviderLane::answer_at_once(ExchangePtr& exchange) {
  // flowbatch estimate samples online: a batch job's answer may take hours (charge() prices it at
  // the batch discount all the same).
  if (batches_ && exchange->batch && exchange->batch->mode != CallMode::online && !exchange->from_cache &&
      exchange->dispatch.kind == Dispatch::Kind::http && !run_.sampling()) {
    batches_->add(std::move(exchange));
    return true;
  }
  if (exchange->from_cache) {
    run_.metrics.cache_hits.fetch_add(1, std::memory_order_relaxed);
    exchange->result = read_answer(*exchange);
    exchange->owner->complete(exchange);
    return true;
  }
  const Dispatch& d = exchange->dispatch;
  if (d.kind != Dispatch::Kind::immediate || d.delay.count() > 0 || run_.window)  // a window holds even these
    return false;
  // An item its provider refused to send (invalid_input: a hole in a template, data that would
  // steer the request) made no request; an in-process answer (the mock provider's) did.
  const bool refused = d.result.failure && d.result.failure->error_class == ErrorClass::invalid_input;
  if (!refused && !reserve_cost(*exchange)) {
    run_.ledger.end(exchange->items, Ending::abandoned);
    return true;
  }
  exchange->result = std::move(exchange->dispatch.result);
  if (!refused) {
    count_request(*exchange, std::chrono::nanoseconds(0));
    charge(*exchange);
  }
  exchange->owner->complete(exchange);
  return true;
}

void ProviderLane::defer(ExchangeOwner& owner, Deferred build) { enqueue(Waiting{nullptr, &owner, std::move(build)}); }

void ProviderLane::send_to_transport(const ExchangePtr& exchange) {
  bool now = false;
  {
    std::lock_guard lock(slots_mutex_);
    now = waiting_.empty() && slots_used_ < slots_open_;
    if (now) ++slots_used_;
    update_busy();
  }
  if (now) start({exchange});
  else enqueue(Waiting{exchange, exchange->owner, {}});
}

void ProviderLane::enqueue(Waiting waiting) {
  // It does not hold the graph (a hard stop cancels the graph and leaves it for the next run):
  // something always runs that frees a slot or takes it — the requests out, each held until
  // its answer is handled, or a pump() under way in a task.
  bool room = false;
  {
    std::lock_guard lock(slots_mutex_);
    waiting_.push_back(std::move(waiting));
    room = slots_used_ < slots_open_;
    update_busy();
  }
  // Queued while a slot was free (the queue was not empty, being pumped): nobody may free one.
  if (room) pump();
}

void ProviderLane::free_slots(std::size_t n) {
  if (n == 0) return;
  {
    std::lock_guard lock(slots_mutex_);
    slots_used_ -= std::min(n, slots_used_);
    update_busy();
  }
  pump();
}

void ProviderLane::pump() {
  std::vector<ExchangePtr> group;
  std::vector<ExchangeOwner*> owners;  // of requests built here: what they answered at once goes on
  bool slot_unused = false;            // the last one taken needed no slot after all
  while (true) {
    Waiting next;
    {
      std::lock_guard lock(slots_mutex_);
      if (slot_unused) --slots_used_;
      slot_unused = false;
      if (waiting_.empty() || slots_used_ >= slots_open_) {
        update_busy();
        break;
      }
      next = std::move(waiting_.front());
      waiting_.pop_front();
      ++slots_used_;
      update_busy();
    }
    ExchangePtr exchange = std::move(next.exchange);
    if (next.build) {
      if (std::find(owners.begin(), owners.end(), next.owner) == owners.end()) owners.push_back(next.owner);
      exchange = next.build();
      if (!exchange || answer_at_once(exchange)) {
        slot_unused = true;
        continue;
      }
    }
    group.push_back(std::move(exchange));
  }
  if (!group.empty()) start(std::move(group));
  for (ExchangeOwner* owner : owners) owner->flush();
}

void ProviderLane::start(std::vector<ExchangePtr> group) {
  // Every exchange leaving here comes back through arrived(); the graph waits for it meanwhile.
  auto& gateway = transport_.gateway();
  for (std::size_t i = 0; i < group.size(); ++i) gateway.reserve_wait();
  admit(std::move(group));
}

void ProviderLane::admit(std::vector<ExchangePtr> group) {
  std::vector<RateGate::Wanted> wanted;
  wanted.reserve(group.size());
  for (ExchangePtr& exchange : group) {
    if (run_.draining()) {  // after Ctrl-C no new request starts; the resumed run sends it
      exchange->abandoned = true;
      arrived(std::move(exchange));
      continue;
    }
    if (const std::chrono::seconds wait = until_window_opens(run_); wait.count() > 0) {
      wait_for_window(exchange, wait);
      continue;
    }
    const auto tokens = static_cast<double>(exchange->request.estimated_tokens);
    wanted.push_back({tokens, [this, exchange = std::move(exchange)](bool go, std::uint64_t ticket) {
                        if (!go || run_.draining()) {
                          if (go) gate_->cancelled();  // it took a slot after all: give it back
                          exchange->abandoned = true;
                          arrived(exchange);
                          return;
                        }
                        exchange->gated = true;
                        exchange->ticket = ticket;
                        if (!reserve_cost(*exchange)) {  // the cost cap: it never starts, the run stops
                          gate_->cancelled();
                          exchange->gated = false;
                          exchange->abandoned = true;
                          arrived(exchange);
                          return;
                        }
                        dispatch(exchange);
                      }});
  }
  if (!wanted.empty()) gate_->request_all(std::move(wanted));
}

void ProviderLane::wait_for_window(const ExchangePtr& exchange, std::chrono::seconds wait) {
  if (stop_outside_window(run_)) {
    exchange->abandoned = true;
    arrived(exchange);
    return;
  }
  if (!told_window_.exchange(true)) log_.info("{}", window_wait_note(run_, "requests", wait));
  // A drain cuts the wait short (skippable); the window is checked again when it ends, so a
  // change of the clock (daylight saving time) only means another wait.
  run_.loop.after_skippable(
      wait, [this, exchange] { admit({exchange}); },
      [this, exchange] {
        exchange->abandoned = true;
        arrived(exchange);
      });
}

void ProviderLane::dispatch(const ExchangePtr& exchange) {
  exchange->started = std::chrono::steady_clock::now();
  const Dispatch& d = exchange->dispatch;
  switch (d.kind) {
    case Dispatch::Kind::immediate:
      run_.loop.after(
          d.delay, [this, exchange] { arrived(exchange); },
          [this, exchange] {  // hard stop: the answer will never be used
            exchange->abandoned = true;
            arrived(exchange);
          });
      return;
    case Dispatch::Kind::http: {
      const ProviderSettings& s = spec_.settings;
      const TransferOptions options{s.timeout, s.connect_timeout, s.ca_file.empty() ? nullptr : s.ca_file.c_str(),
                                    static_cast<std::size_t>(s.low_speed_limit), s.low_speed_time};
      http_.send(std::move(exchange->dispatch.http), options, [this, exchange](HttpResponse response) {
        exchange->response = std::move(response);
        arrived(exchange);
      });
      return;
    }
    case Dispatch::Kind::blocking: blocking_.post([this, exchange] { run_blocking(exchange); }); return;
  }
}

void ProviderLane::run_blocking(const ExchangePtr& exchange) {
  if (run_.hard_stopped()) {  // queued behind others when the stop came: never started
    exchange->abandoned = true;
    arrived(exchange);
    return;
  }
  CallResult& result = exchange->dispatch.result;
  try {
    result = exchange->dispatch.work();
  } catch (...) {  // a plugin's work that throws: this request fails, the run goes on
    result = CallResult{};
    result.failure =
        make_failure(ErrorClass::server, fmt::format("the provider failed: {}", current_exception_message()));
  }
  arrived(exchange);
}

void ProviderLane::arrived(ExchangePtr exchange) {
  bool first = false;
  {
    std::lock_guard lock(arrived_mutex_);
    first = arrived_.empty();
    arrived_.push_back(std::move(exchange));
  }
  // The first answer of a batch schedules its delivery; later ones in the same pass join it.
  if (first) run_.loop.post([this] { deliver(); }, [this] { deliver(); });
}

void ProviderLane::deliver() {
  auto batch = std::make_shared<std::vector<ExchangePtr>>();
  {
    std::lock_guard lock(arrived_mutex_);
    batch->swap(arrived_);
  }
  if (batch->empty()) return;
  const std::size_t n = batch->size();
  auto& gateway = transport_.gateway();
  gateway.try_put(batch);
  for (std::size_t i = 0; i < n; ++i) gateway.release_wait();
}

void ProviderLane::completed(const ExchangePtr& exchange, std::vector<AttemptFeedback>& feedback) {
  if (exchange->abandoned || run_.hard_stopped()) {
    if (exchange->gated) gate_->cancelled();
    release_reservation(*exchange);
    run_.ledger.end(exchange->items, Ending::abandoned);
    return;
  }
  exchange->result = read_answer(*exchange);
  if (exchange->line_share != exchange->line_share_of) share_batch_line(exchange->result.usage, *exchange);
  count_request(*exchange, std::chrono::steady_clock::now() - exchange->started);
  charge(*exchange);
  if (exchange->batched) return complete_batched(exchange);
  AttemptFeedback f = feedback_of(*exchange);
  if (auto why = why_stop(*exchange)) {
    gate_->finished(f);
    stop_provider(*exchange, *why);
    return;
  }
  if (stopped_.load() && exchange->result.failure) {  // failed after the stop: left for the next run too
    gate_->finished(f);
    run_.ledger.end(exchange->items, Ending::abandoned);
    return;
  }
  exchange->owner->complete(exchange);
  feedback.push_back(f);
}

/// A batch line that answers several requests is paid once: each counts its items' share of it.
void ProviderLane::share_batch_line(Usage& usage, const Exchange& ex) {
  const auto share = [&](std::int64_t& tokens) {
    tokens = line_share_tokens(tokens, ex.line_shared_before, ex.line_share, ex.line_share_of);
  };
  share(usage.input_tokens);
  share(usage.output_tokens);
  share(usage.cached_input_tokens);
  share(usage.cache_write_tokens);
}

/// A batch line's answer: as an online one, but the rate gate never saw the request.
void ProviderLane::complete_batched(const ExchangePtr& exchange) {
  if (auto why = why_stop(*exchange)) return stop_provider(*exchange, *why);
  if (stopped_.load() && exchange->result.failure) {
    run_.ledger.end(exchange->items, Ending::abandoned);
    return;
  }
  exchange->owner->complete(exchange);
}

/// One request completed: the run's counters and this provider's (what /metrics labels by provider).
void ProviderLane::count_request(const Exchange& ex, std::chrono::nanoseconds latency) {
  run_.metrics.requests.fetch_add(1, std::memory_order_relaxed);
  run_.metrics.request_latency.record(latency);
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  stats_.items.fetch_add(ex.items.size(), std::memory_order_relaxed);
  stats_.latency.record(latency);
  if (latency.count() > 0 && !ex.items.empty())  // an in-process answer took no time worth showing
    run_.metrics.slowest.offer(latency, ex.owner->name(), ex.items.front().id, ex.items.size(),
                               ex.items.front().attempts);
  const CallResult& r = ex.result;
  const int status = ex.dispatch.kind == Dispatch::Kind::http ? ex.response.status : 0;
  stats_.by_status[status > 0 && status < 600 ? static_cast<std::size_t>(status) : 0].fetch_add(
      1, std::memory_order_relaxed);
  if (r.failure)
    stats_.errors[static_cast<std::size_t>(r.failure->error_class)].fetch_add(1, std::memory_order_relaxed);
  stats_.input_tokens.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, r.usage.input_tokens)),
                                std::memory_order_relaxed);
  stats_.output_tokens.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, r.usage.output_tokens)),
                                 std::memory_order_relaxed);
}

CallResult ProviderLane::read_answer(Exchange& ex) {
  if (ex.dispatch.kind != Dispatch::Kind::http) return std::move(ex.dispatch.result);
  if (ex.response.transport_error) {
    CallResult r;
    r.failure = ex.response.transport_error;
    return r;
  }
  try {
    if (!ex.line_positions.empty()) return read_line_answer(ex);
    return provider().parse(ex.request, ex.response);
  } catch (...) {  // a plugin provider that throws: this request fails, the run goes on
    CallResult r;
    r.failure = make_failure(ErrorClass::parse,
                             fmt::format("the provider could not read the answer: {}", current_exception_message()));
    r.failure->http_status = ex.response.status;
    return r;
  }
}

/// A batch line answered by position, for other items than its request's or in another order:
/// read as the line's request (its length, the request's inputs at their places in it), then each
/// item takes its own entry.
CallResult ProviderLane::read_line_answer(Exchange& ex) {
  const std::size_t line_size = ex.line_share_of;
  CallRequest as_sent = ex.request;
  as_sent.inputs.assign(line_size, std::string());
  for (std::size_t i = 0; i < ex.line_positions.size(); ++i) {
    if (ex.line_positions[i] >= line_size || i >= ex.request.inputs.size()) {
      CallResult r;
      r.failure =
          make_failure(ErrorClass::malformed, "the batch line that answers this request does not hold its items");
      return r;
    }
    as_sent.inputs[ex.line_positions[i]] = ex.request.inputs[i];
  }
  CallResult r = provider().parse(as_sent, ex.response);
  if (r.failure) return r;
  if (r.outputs.size() != line_size) {
    r.failure = make_failure(
        ErrorClass::malformed,
        fmt::format("the batch line has {} answers where it was sent {} inputs", r.outputs.size(), line_size));
    r.outputs.clear();
    return r;
  }
  std::vector<boost::json::value> own;
  own.reserve(ex.line_positions.size());
  for (const std::size_t at : ex.line_positions) own.push_back(r.outputs[at]);
  r.outputs = std::move(own);
  return r;
}

AttemptFeedback ProviderLane::feedback_of(const Exchange& ex) const {
  AttemptFeedback f;
  const CallResult& r = ex.result;
  f.rtt = std::chrono::steady_clock::now() - ex.started;
  f.estimated_tokens = static_cast<double>(ex.request.estimated_tokens);
  f.ticket = ex.ticket;
  f.signals = r.rate;
  if (!r.failure) {
    f.used_tokens = static_cast<double>(r.usage.input_tokens + r.usage.output_tokens);
    if (f.used_tokens <= 0) f.used_tokens = -1;  // no usage reported: keep the estimate
    return f;
  }
  const Failure& failure = *r.failure;
  if (!f.signals.retry_after && failure.retry_after_ms >= 0)
    f.signals.retry_after = std::chrono::milliseconds(failure.retry_after_ms);
  f.rate_limited = failure.error_class == ErrorClass::rate_limit;
  f.back_pressure =
      f.rate_limited || failure.error_class == ErrorClass::timeout ||
      (failure.error_class == ErrorClass::server && (failure.http_status == 503 || failure.http_status == 529));
  return f;
}

/// Failures that no request to this provider can get past, so that sending the rest would only
/// fill the dead letter: out of credit; a key the API refuses; a server that no request has ever
/// reached (a wrong base_url, no network, a certificate not trusted). Nothing, or what to tell
/// the user.
std::optional<std::string> ProviderLane::why_stop(const Exchange& ex) {
  const bool reached = ex.dispatch.kind != Dispatch::Kind::http || !ex.response.could_not_connect;
  if (!ex.result.failure) {
    if (reached) reached_server();
    return std::nullopt;
  }
  return stop_reason(*ex.result.failure, reached);  // which marks the server reached first
}

std::optional<std::string> ProviderLane::stop_reason(const Failure& failure, bool reached) {
  if (reached) reached_server();
  const std::string message = run_.redactor.redact_and_cut(failure.message, Redactor::kMaxMessageBytes);
  switch (failure.error_class) {
    case ErrorClass::quota:
      return fmt::format("quota or credit exhausted ({}); add credit, then run the same command to go on", message);
    case ErrorClass::auth:
      return fmt::format(
          "the API refused the request's credentials ({}); check the key (api_key_env) and its permissions, "
          "then run the same command to go on",
          message);
    default: break;
  }
  if (reached_server_.load(std::memory_order_relaxed)) return std::nullopt;
  return fmt::format("cannot reach the server ({}); check base_url and the network, then run the same command to go on",
                     message);
}

/// Stops dispatching to this provider and ends the run as resumable. The item that showed the
/// problem, and every one after it, is left for the next run: none was really tried, so none is
/// dead-lettered.
void ProviderLane::stop_provider(const Exchange& ex, const std::string& why) {
  stop(why);
  run_.ledger.end(ex.items, Ending::abandoned);
}

void ProviderLane::stop(const std::string& why) {
  if (!stopped_.exchange(true)) {
    gate_->stop();
    run_.stop_resumable(fmt::format("provider \"{}\": {}", spec_.name, why));
  }
}

std::string_view model_of(const CallRequest& r) {
  if (!r.model.empty() || !r.body.is_object()) return r.model;
  const auto* model = r.body.get_object().if_contains("model");
  return model && model->is_string() ? std::string_view(model->get_string()) : std::string_view();
}

namespace {

/// The request's output limit as written in a JSON body (max_tokens and its newer names).
std::optional<std::int64_t> max_output_in(const boost::json::value& body) {
  const auto* o = body.if_object();
  if (!o) return std::nullopt;
  for (const char* key : {"max_tokens", "max_completion_tokens", "max_output_tokens"})
    if (const auto* v = o->if_contains(key); v && v->is_int64() && v->get_int64() > 0) return v->get_int64();
  return std::nullopt;
}

/// The most input tokens the request can hold: its bytes (a token is at least one byte of text),
/// counted on the wire form when there is one.
std::int64_t input_token_bound(const Exchange& ex) {
  if (ex.dispatch.kind == Dispatch::Kind::http) return static_cast<std::int64_t>(ex.dispatch.http.body.size());
  const CallRequest& r = ex.request;
  std::size_t bytes = 64;
  for (const auto& m : r.messages) bytes += m.content.size() + 16;
  for (const auto& input : r.inputs) bytes += input.size() + 4;
  if (!r.body.is_null()) bytes += approximate_json_chars(r.body);
  return static_cast<std::int64_t>(bytes);
}

/// The most output tokens the request can be answered with, if anything bounds it.
std::optional<std::int64_t> output_token_bound(const Exchange& ex, const Price& price) {
  const CallRequest& r = ex.request;
  if (r.endpoint == Endpoint::embeddings) return 0;
  if (r.max_tokens) return *r.max_tokens;
  if (auto given = max_output_in(r.body)) return given;
  if (ex.dispatch.kind == Dispatch::Kind::http) {  // a provider's own default (Anthropic's default_max_tokens)
    boost::system::error_code ec;
    if (auto given = max_output_in(boost::json::parse(ex.dispatch.http.body, ec)); given && !ec) return given;
  }
  if (price.max_output > 0) return price.max_output;
  return std::nullopt;
}

}  // namespace

bool ProviderLane::reserve_cost(Exchange& ex) {
  Budget& budget = run_.budget;
  if (!budget.capped()) return true;
  const std::string_view model = model_of(ex.request);
  const std::optional<Price> price = price_of(model);
  std::string why;
  if (!price) {
    why = fmt::format(
        "model \"{}\" of provider \"{}\" has no known price, so max_cost_usd cannot bound it; set "
        "[providers.{}.prices]",
        model, spec_.name, spec_.name);
  } else if (auto output = output_token_bound(ex, *price)) {
    ex.reserved = worst_cost(input_token_bound(ex), *output, *price, ex.batched);
    if (budget.reserve(ex.reserved)) return true;
    ex.reserved = 0;
    why = fmt::format(
        "the cost cap: ${:.4f} spent and ${:.4f} held by requests in flight, and the next request may cost up to "
        "${:.4f}, over max_cost_usd = ${:.4f}; raise the cap (max_cost_usd, or --max-cost) and run the same command "
        "to go on",
        to_usd(budget.spent()), to_usd(budget.reserved()),
        to_usd(worst_cost(input_token_bound(ex), *output, *price, ex.batched)), to_usd(budget.limits().cap));
  } else {
    why = fmt::format(
        "a request of model \"{}\" has no max_tokens, so max_cost_usd cannot bound it; set max_tokens "
        "on the call (or max_output in [providers.{}.prices])",
        model, spec_.name);
  }
  run_.stop_resumable(std::move(why));
  return false;
}

void ProviderLane::charge(Exchange& ex) {
  const CallResult& r = ex.result;
  const Usage& u = r.usage;
  const bool answered = !r.failure || u.input_tokens > 0 || u.output_tokens > 0;
  if (!answered) return release_reservation(ex);
  const std::optional<Price> price = price_of(model_of(ex.request));
  Metrics& m = run_.metrics;
  m.cached_input_tokens.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, u.cached_input_tokens)),
                                  std::memory_order_relaxed);
  m.cache_write_tokens.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, u.cache_write_tokens)),
                                 std::memory_order_relaxed);
  stats_.cached_input_tokens.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, u.cached_input_tokens)),
                                       std::memory_order_relaxed);
  if (!price) {
    ex.priced = false;
    m.unpriced_requests.fetch_add(1, std::memory_order_relaxed);
    stats_.unpriced_requests.fetch_add(1, std::memory_order_relaxed);
    run_.budget.settle(ex.reserved, ex.reserved);
    ex.reserved = 0;
    return;
  }
  // flowbatch estimate sends a batch call's sample online, and prices it as the batch will be.
  const bool batch_price = ex.batched || (run_.sampling() && ex.batch && ex.batch->mode != CallMode::online);
  ex.cost = cost_of(u, *price, batch_price);
  if (batch_price) {
    const NanoUsd saved = cost_of(u, *price) - ex.cost;
    m.saved_batch_nano.fetch_add(saved, std::memory_order_relaxed);
    stats_.saved_nano.fetch_add(saved, std::memory_order_relaxed);
  }
  m.cost_nano.fetch_add(ex.cost, std::memory_order_relaxed);
  stats_.cost_nano.fetch_add(ex.cost, std::memory_order_relaxed);
  // What the provider's prompt cache took off (reads are cheaper; Anthropic's writes cost more).
  Usage uncached = u;
  uncached.cached_input_tokens = uncached.cache_write_tokens = 0;
  const NanoUsd discount = cost_of(uncached, *price, batch_price) - ex.cost;
  m.saved_prompt_cache_nano.fetch_add(discount, std::memory_order_relaxed);
  stats_.saved_nano.fetch_add(discount, std::memory_order_relaxed);
  run_.budget.settle(ex.reserved, ex.cost);
  ex.reserved = 0;
  if (run_.budget.take_warning())
    log_.warn("the job has cost ${:.4f}, past warn_cost_usd = ${:.4f}", to_usd(run_.budget.spent()),
              to_usd(run_.budget.limits().warn));
}

void ProviderLane::release_reservation(Exchange& ex) {
  if (ex.reserved == 0) return;
  // Sent, but no answer came (a time-out, a reset): the provider may have billed it all the same.
  const bool went_out = ex.gated && !ex.abandoned && ex.dispatch.kind == Dispatch::Kind::http &&
                        ex.response.status == 0 && !ex.response.could_not_connect;
  run_.budget.settle(ex.reserved, went_out ? ex.reserved : 0);
  ex.reserved = 0;
}

}  // namespace flowbatch
