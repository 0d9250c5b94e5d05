#include "engine/runtime/provider_lane.h"

namespace flowbatch {

ProviderLane::ProviderLane(flow::graph& graph, const PlanProvider& provider, RunState& run, HttpClient& http)
    : spec_(provider),
      run_(run),
      http_(http),
      queue_(graph),
      limiter_(graph, provider.settings.max_concurrency),
      transport_(graph, flow::unlimited,
                 [this](const ExchangePtr& exchange, Transport::gateway_type& gateway) {
                   start_transport(exchange, gateway);
                 }),
      complete_(graph, flow::unlimited, [this](const ExchangeBatch& batch) {
        for (const ExchangePtr& exchange : *batch) completed(exchange);
        return flow::continue_msg();
      }) {
  flow::make_edge(queue_, limiter_);
  flow::make_edge(limiter_, transport_);
  flow::make_edge(transport_, complete_);
}

void ProviderLane::submit(ExchangePtr exchange) {
  const Dispatch& d = exchange->dispatch;
  if (d.kind == Dispatch::Kind::immediate && d.delay.count() <= 0) {
    run_.metrics.requests.fetch_add(1, std::memory_order_relaxed);
    run_.metrics.request_latency.record(std::chrono::nanoseconds(0));
    exchange->owner->complete(exchange);
    return;
  }
  queue_.try_put(std::move(exchange));
}

void ProviderLane::start_transport(const ExchangePtr& exchange, Transport::gateway_type& gateway) {
  exchange->started = std::chrono::steady_clock::now();
  // Every exchange leaving here comes back through arrived(); the graph waits for it meanwhile.
  gateway.reserve_wait();
  if (run_.draining()) {  // after Ctrl-C no new request starts; the resumed run sends it
    exchange->abandoned = true;
    arrived(exchange);
    return;
  }
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
      const TransferOptions options{spec_.settings.timeout, spec_.settings.connect_timeout};
      http_.send(std::move(exchange->dispatch.http), options, [this, exchange](HttpResponse response) {
        exchange->response = std::move(response);
        arrived(exchange);
      });
      return;
    }
    case Dispatch::Kind::blocking:
      // Not wired in this build: answer with a failure rather than lose the items.
      exchange->dispatch = Dispatch::respond(CallResult{
          Failure{ErrorClass::invalid_request, "this provider's transport is not available in this build", 0, {}, {}, -1},
          {}, nullptr, {}, {}, {}, 0});
      arrived(exchange);
      return;
  }
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
  gateway.try_put(std::move(batch));
  for (std::size_t i = 0; i < n; ++i) gateway.release_wait();
}

void ProviderLane::completed(const ExchangePtr& exchange) {
  limiter_.decrementer().try_put(1);  // the slot is free as soon as the answer is in
  if (exchange->abandoned || run_.hard_stopped()) {
    run_.items_ended(exchange->items, Ending::abandoned);
    return;
  }
  run_.metrics.requests.fetch_add(1, std::memory_order_relaxed);
  run_.metrics.request_latency.record(std::chrono::steady_clock::now() - exchange->started);
  exchange->owner->complete(exchange);
}

}  // namespace flowbatch
