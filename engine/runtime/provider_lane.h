#pragma once
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "engine/core/console.h"
#include "engine/core/job_queue.h"
#include "engine/graph/plan.h"
#include "engine/io/http_client.h"
#include "engine/ratelimit/shared_rate_gate.h"
#include "engine/runtime/batch_jobs.h"
#include "engine/runtime/flow.h"
#include "engine/runtime/run_state.h"
#include "flowbatch/provider.h"

namespace flowbatch {

struct Exchange;

/// The model a request names (a passthrough body's "model").
std::string_view model_of(const CallRequest& request);

/// Its answer holds one entry per item, in the order of the request's items (embeddings), not
/// items named by id (a pack) or a single item.
inline bool answers_by_position(const CallRequest& request) { return request.endpoint == Endpoint::embeddings; }

/// Whoever sent an exchange and gets it back when it completes (a call node).
class ExchangeOwner {
 public:
  virtual ~ExchangeOwner() = default;
  /// Called on a worker thread once the exchange is answered: `exchange->result` holds the
  /// provider's reading of the answer (or the transport failure).
  virtual void complete(const std::shared_ptr<Exchange>& exchange) = 0;
  /// Called after a step of answers (up to kAnswersPerStep of a batch) was handed to complete():
  /// sends on what they produced, so answered items move on together, one message per step, and
  /// none waits for unrelated ones.
  virtual void flush() = 0;
  /// The call node's name (the report's slowest requests name it).
  virtual const std::string& name() const = 0;
};

/// One request on its way: the items it answers, the provider-neutral request, its wire form,
/// the response and what the provider made of it.
struct Exchange {
  ExchangeOwner* owner = nullptr;
  ItemVector items;
  std::vector<const Item*> item_pointers;
  CallRequest request;
  Dispatch dispatch;
  HttpResponse response;
  CallResult result;
  std::chrono::steady_clock::time_point started;
  bool from_cache = false;               ///< `response` came from the request cache: nothing is sent
  std::string cache_key;                 ///< set when the answer may come from (or go to) the cache
  std::vector<std::string> item_keys;    ///< per item, when each item's answer is cached on its own (packing)
  std::vector<std::size_t> weights;      ///< per item, its share of the prompt (characters): how usage is shared out
  bool gated = false;                    ///< the rate gate let it start (and must hear how it ended)
  std::uint64_t ticket = 0;              ///< the gate's number for its start
  bool abandoned = false;                ///< never sent, or its answer unusable: a stop came first
  NanoUsd reserved = 0;                  ///< what the cost cap holds for it while it is out (its worst case)
  NanoUsd cost = 0;                      ///< what it cost (its usage at its model's price), once answered
  const BatchSettings* batch = nullptr;  ///< its call's batch keys (null: online only)
  bool batched = false;                  ///< it went (or waits) in a batch job: no concurrency slot, batch price
  std::string custom_id;                 ///< its line's id in a batch job
  std::string earlier_line;  ///< a line of an earlier run's job holds its items: it goes back to it (batch mode)
  /// Its share of its batch line's usage, in items counted of the line's items: a line that
  /// answers several requests (the same request twice; a pack's items regrouped after a crash)
  /// is counted once in all. line_shared_before: the line's items counted by earlier requests.
  std::size_t line_share = 1, line_share_of = 1, line_shared_before = 0;
  bool priced = true;  ///< false: its model has no known price, `cost` is unknown
  /// A request answered by position (embeddings) whose batch line holds other items, or the same
  /// in another order (a resumed run grouped them otherwise): each item's position in the line,
  /// whose answer has `line_share_of` entries. Empty: its items are the line's, in its order.
  std::vector<std::size_t> line_positions;

  /// Points request.items at `items`; call after `items` is final.
  void bind_items() {
    item_pointers.clear();
    for (const Item& item : items) item_pointers.push_back(&item);
    request.items = item_pointers;
  }
};
using ExchangePtr = std::shared_ptr<Exchange>;

/// The part of a batch line's `tokens` that `share` of its `of` items own when `before` of them
/// were counted already: cumulative rounding, so the parts of one line add up to the line
/// exactly (a plain tokens × share / of per request loses a token to each rounding).
constexpr std::int64_t line_share_tokens(std::int64_t tokens, std::size_t before, std::size_t share, std::size_t of) {
  if (of == 0) return 0;
  const auto upto = [&](std::size_t n) {
    return tokens * static_cast<std::int64_t>(n) / static_cast<std::int64_t>(of);
  };
  return upto(before + share) - upto(before);
}
using ExchangeBatch = std::shared_ptr<std::vector<ExchangePtr>>;

/// The shared path of every request to one provider:
///
///   submit → a free concurrency slot (else the lane's queue) → rate gate → I/O thread
///          → async_node's gateway → function_node(complete) → the slot is free again
///
/// The lane counts its concurrency slots itself: a request takes one when it starts and gives it
/// back once its answer is handled; requests that find none wait in the lane's queue (nothing is
/// dropped). Answers and starts move in groups: the complete stage takes a batch's answers in steps
/// of kAnswersPerStep and hands the gate every finished attempt of a step in one message, and the
/// requests its freed slots let start in another, before the next step (so the server gets new
/// requests while the rest are read, rather than the whole batch moving as one convoy); no TBB
/// task per request sits between the call node and the I/O thread (each woke idle workers).
/// While requests wait for slots, a new one waits unbuilt (defer()): its exchange and wire body
/// are made when a slot is free, so a queue of thousands holds items, not their requests.
/// The gate decides when each request may start — where requests/min and tokens/min are
/// charged, the (adaptive) concurrency is held and a 429's cool-down is respected — and the
/// request then goes to the engine's I/O thread; nothing blocks a worker, and `reserve_wait`
/// keeps wait_for_all() from returning while a request is out.
///
/// Answers come back in batches: whatever the I/O thread finished in one pass of its loop enters
/// the graph as one message. The complete stage reads them (JSON is parsed on workers, never on
/// the I/O thread), tells the gate how each attempt went, and hands them to their call node.
class ProviderLane {
 public:
  /// `blocking` runs the requests of a provider whose work blocks (Dispatch::run).
  ProviderLane(flow::graph& graph, const PlanProvider& provider, RunState& run, HttpClient& http, JobQueue& blocking,
               Logger log);

  /// Sends a request on its way. Thread-safe; called from call-node bodies. An answer that needs
  /// no I/O (Dispatch::respond without delay: a simulation; or a response from the cache)
  /// completes right here, on the caller's thread, without taking a concurrency slot or budget;
  /// the caller then flushes its owner itself.
  void submit(ExchangePtr exchange);
  /// A request not built yet: makes its exchange once a slot is free, or ends without one
  /// (returns null; its owner is flushed after).
  using Deferred = std::function<ExchangePtr()>;
  /// Whether requests are waiting for a slot: a new one is then better deferred. Thread-safe.
  bool busy() const { return busy_.load(std::memory_order_relaxed); }
  /// Queues `build` behind the requests waiting for a slot; it runs (on the thread that frees
  /// one) when its turn comes, and what it makes is submitted. Thread-safe.
  void defer(ExchangeOwner& owner, Deferred build);
  Provider& provider() { return *spec_.provider; }
  const PlanProvider& spec() const { return spec_; }
  const RateGate& gate() const { return *gate_; }
  /// The price of `model` on this provider, if known.
  std::optional<Price> price_of(std::string_view model) const { return spec_.prices.find(model); }
  /// flowbatch estimate --no-calls: a request counted and priced (its usage estimated) but never sent.
  void charge_unsent(Exchange& exchange) {
    count_request(exchange, std::chrono::nanoseconds(0));
    charge(exchange);
  }
  /// The run's control (pause, resume, limits) acts on the gate, where requests start.
  RateGate& gate() { return *gate_; }
  /// New limits while running (POST /limits): a concurrency above the starting one, up to the
  /// provider's ceiling, opens the lane to that many requests at once. Thread-safe.
  void change_limits(const RateGate::LimitChange& change, std::function<void()> applied);
  /// The counters the summary and /metrics show for this provider.
  ProviderStats& stats() const { return stats_; }

  // --- batch jobs (engine/runtime/batch_jobs.h) ----------------------------------------------
  /// A call in batch or auto mode uses this provider; called while the graph is built. False when
  /// the provider has no batch API.
  bool enable_batches(const std::string& pipeline);
  /// Its batch jobs, once a call enabled them (else null).
  BatchJobs* batch_jobs() const { return batches_.get(); }
  /// `run --cancel-batches`: cancels the jobs earlier runs left.
  void cancel_batches() {
    if (batches_) batches_->cancel_all();
  }
  /// A request held by a batch job: the graph waits for it until deliver_batched().
  void hold() { transport_.gateway().reserve_wait(); }
  /// A batch line's answer (or an abandoned request): completes as an online answer does.
  void deliver_batched(const ExchangePtr& exchange) { arrived(exchange); }
  /// Under a cost cap: reserves the most the request can cost (at the batch price when it goes in
  /// a batch job); false when the cap stops it (the run is then stopped, resumably).
  bool reserve_cost(Exchange& exchange);
  /// A reserved request that was never sent gives its reservation back.
  void release_unsent(Exchange& exchange) {
    run_.budget.settle(exchange.reserved, 0);
    exchange.reserved = 0;
  }
  /// A held request sent online after all (auto mode).
  void send_online(const ExchangePtr& exchange);

  /// Why a request's `failure` must stop the run rather than fail its items: the credentials or
  /// the quota refused, or a server no request of this run has reached (`reached`: this one did).
  /// None otherwise. Online and batch requests alike. Thread-safe.
  std::optional<std::string> stop_reason(const Failure& failure, bool reached);
  /// Sends nothing more to this provider and ends the run resumably, saying `why`. Thread-safe.
  void stop(const std::string& why);
  /// A request reached the server: it is no longer "unreachable". Thread-safe.
  void reached_server() { reached_server_.store(true, std::memory_order_relaxed); }

 private:
  using Transport = flow::async_node<ExchangePtr, ExchangeBatch>;
  /// A request waiting for a slot: built, or still to be built.
  struct Waiting {
    ExchangePtr exchange;
    ExchangeOwner* owner = nullptr;
    Deferred build;
  };
  /// How many slot-holding answers of a batch the complete stage handles before it gives their
  /// slots back (bench_http: 8 against 2, 4 and 16, bench/README.md). A batch job's answers hold
  /// none and do not count: its thousands of lines go on in one step.
  static constexpr std::size_t kAnswersPerStep = 8;
  /// Handles `answers` (part of a batch from the I/O thread), then frees their slots.
  void complete_step(std::span<const ExchangePtr> answers);
  /// Answers without I/O (cache, simulation) or hands to a batch job; false: it needs a slot.
  bool answer_at_once(ExchangePtr& exchange);
  /// Starts a request that needs a slot, or queues it behind those waiting.
  void send_to_transport(const ExchangePtr& exchange);
  /// Queues a request (it holds the graph while it waits); pumps if a slot is free.
  void enqueue(Waiting waiting);
  /// Gives `n` slots back, then starts what waits (pump()).
  void free_slots(std::size_t n);
  /// Starts waiting requests while slots are free, as one group.
  void pump();
  /// Under slots_mutex_: whether a new request would wait.
  void update_busy() { busy_.store(!waiting_.empty() || slots_used_ >= slots_open_, std::memory_order_relaxed); }
  /// Requests that took a slot: each holds the graph until it comes back through arrived().
  void start(std::vector<ExchangePtr> group);
  /// Passes the requests to the gate (one message), or holds one until the run window opens.
  void admit(std::vector<ExchangePtr> group);
  /// Outside the run window: waits for it (the I/O loop's timer), or stops the run resumably.
  void wait_for_window(const ExchangePtr& exchange, std::chrono::seconds wait);
  /// On the loop thread, once the gate lets the request go.
  void dispatch(const ExchangePtr& exchange);
  /// On a blocking thread: runs the provider's work for the request.
  void run_blocking(const ExchangePtr& exchange);
  /// On an I/O thread: an answer is in (or the request failed in transport, or was abandoned).
  void arrived(ExchangePtr exchange);
  /// On the first I/O thread: hands everything that arrived since the last call to the graph.
  void deliver();
  /// One answered request; what the gate should hear of it joins `feedback` (told after the batch).
  void completed(const ExchangePtr& exchange, std::vector<AttemptFeedback>& feedback);
  void complete_batched(const ExchangePtr& exchange);
  static void share_batch_line(Usage& usage, const Exchange& exchange);
  CallResult read_answer(Exchange& exchange);
  CallResult read_line_answer(Exchange& exchange);
  void count_request(const Exchange& exchange, std::chrono::nanoseconds latency);
  AttemptFeedback feedback_of(const Exchange& exchange) const;
  std::optional<std::string> why_stop(const Exchange& exchange);
  /// What an answered request cost, on the exchange, the run and this provider; settles its
  /// reservation.
  void charge(Exchange& exchange);
  /// A reserved request ends without an answer to charge: what it may have cost stays spent when
  /// it went out (the provider may have billed it), else the reservation is given back.
  void release_reservation(Exchange& exchange);
  void stop_provider(const Exchange& exchange, const std::string& why);
  /// Lets `wanted` requests be out at once (never fewer than now).
  void open_slots(std::size_t wanted);

  const PlanProvider& spec_;
  RunState& run_;
  HttpClient& http_;
  JobQueue& blocking_;
  Logger log_;
  ProviderStats& stats_;
  std::unique_ptr<RateGate> gate_;  // local, or shared with other processes (shared_limit)
  Transport transport_;             // its gateway: answers into the graph, and the graph's wait for requests out
  flow::function_node<ExchangeBatch, flow::continue_msg> complete_;
  std::atomic<bool> reached_server_{false};  // some request was not refused a connection
  std::atomic<bool> stopped_{false};         // nothing more is sent: see why_stop()
  std::atomic<bool> told_window_{false};     // the wait for the window was logged
  std::mutex slots_mutex_;
  std::size_t slots_open_ = 0;   // guarded by slots_mutex_: how many requests may be out at once
  std::size_t slots_used_ = 0;   // guarded by slots_mutex_
  std::deque<Waiting> waiting_;  // guarded by slots_mutex_
  std::atomic<bool> busy_{false};
  std::mutex arrived_mutex_;
  std::vector<ExchangePtr> arrived_;  // guarded by arrived_mutex_
  std::unique_ptr<BatchJobs> batches_;
};

}  // namespace flowbatch
