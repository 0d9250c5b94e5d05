#pragma once
#include <chrono>
#include <mutex>
#include <memory>
#include <vector>

#include "engine/graph/plan.h"
#include "engine/io/http_client.h"
#include "engine/runtime/flow.h"
#include "engine/runtime/run_state.h"
#include "flowbatch/provider.h"

namespace flowbatch {

struct Exchange;

/// Whoever sent an exchange and gets it back when it completes (a call node).
class ExchangeOwner {
 public:
  virtual ~ExchangeOwner() = default;
  /// Called on a worker thread once the exchange is answered (or failed in transport).
  virtual void complete(const std::shared_ptr<Exchange>& exchange) = 0;
};

/// One request on its way: the items it answers, the provider-neutral request, its wire form and
/// the response.
struct Exchange {
  ExchangeOwner* owner = nullptr;
  ItemVector items;
  std::vector<const Item*> item_pointers;
  CallRequest request;
  Dispatch dispatch;
  HttpResponse response;
  std::chrono::steady_clock::time_point started;
  bool abandoned = false;  ///< never sent: the run was draining when its turn came

  /// Points request.items at `items`; call after `items` is final.
  void bind_items() {
    item_pointers.clear();
    for (const Item& item : items) item_pointers.push_back(&item);
    request.items = item_pointers;
  }
};
using ExchangePtr = std::shared_ptr<Exchange>;
using ExchangeBatch = std::shared_ptr<std::vector<ExchangePtr>>;

/// The shared path of every request to one provider:
///
///   queue_node → limiter_node(max_concurrency) → async_node(transport) → function_node(complete)
///
/// The queue in front of the limiter keeps waiting requests (nothing is dropped); the limiter is
/// opened again as each request completes. The transport body only hands work to the engine's
/// I/O thread (or answers at once) and never blocks a worker; `reserve_wait` keeps
/// wait_for_all() from returning while a request is out.
///
/// Answers come back in batches: whatever the I/O thread finished in one pass of its loop enters
/// the graph as one message, so the graph wakes once per pass, not once per answer (at tens of
/// thousands of answers a second the per-message wake-ups, not the work, used the CPU).
class ProviderLane {
 public:
  ProviderLane(flow::graph& graph, const PlanProvider& provider, RunState& run, HttpClient& http);

  /// Sends a request on its way. Thread-safe; called from call-node bodies. An answer that needs
  /// no I/O (Dispatch::respond without delay: a simulation, a cache hit) completes right here,
  /// on the caller's thread, without taking a concurrency slot.
  void submit(ExchangePtr exchange);
  Provider& provider() { return *spec_.provider; }
  const PlanProvider& spec() const { return spec_; }

 private:
  using Transport = flow::async_node<ExchangePtr, ExchangeBatch>;
  void start_transport(const ExchangePtr& exchange, Transport::gateway_type& gateway);
  /// On an I/O thread: an answer is in (or the request failed in transport).
  void arrived(ExchangePtr exchange);
  /// On the first I/O thread: hands everything that arrived since the last call to the graph.
  void deliver();
  void completed(const ExchangePtr& exchange);

  const PlanProvider& spec_;
  RunState& run_;
  HttpClient& http_;
  flow::queue_node<ExchangePtr> queue_;
  flow::limiter_node<ExchangePtr, long> limiter_;
  Transport transport_;
  flow::function_node<ExchangeBatch, flow::continue_msg> complete_;
  std::mutex arrived_mutex_;
  std::vector<ExchangePtr> arrived_;  // guarded by arrived_mutex_
};

}  // namespace flowbatch
