#pragma once
// A provider's batch jobs (calls with mode = "batch" or "auto"): requests built exactly as online
// are gathered into jobs of the provider's batch API (flowbatch/batch.h), which are recorded in
// the run's state before they are created, polled on the I/O loop's timers (one poller per
// provider, its interval growing while nothing changes), and whose answers, line by line, go back
// into the provider lane as if the online API had given them: the same parse, ports, retries,
// dead letters, sinks, state and cost (at the batch discount).
//
// Crash safety: a job's key and its lines (custom ids and the keys of the items each answers)
// are in the state ("submitting") before any request creates it, then its upload and batch ids as
// they come. A resumed run re-attaches every request whose custom id a job holds (custom ids are
// stable: the call, its items and the attempt), and a call that groups several items a request
// (packing) first sends items an earlier line holds back to that line (earlier_line()), however
// they are grouped this time: so no item is submitted twice. A job whose create answer was lost is
// found by listing the provider's batches (OpenAI: by the job key in the metadata), an upload that
// never became a batch is deleted. A stop (Ctrl-C) leaves the jobs running: the next run collects
// them.
//
// The provider's queue (OpenAI's enqueued tokens per model, [providers.X] batch_enqueued_tokens):
// jobs are cut to fit it, a job without room waits, parked, before it is recorded or created (as
// crash-safe as requests being collected), and goes when a job of its model ends; a refusal for
// the queue (other programs fill it too) sends the job back to wait, never fails its requests
// (batch_token_queue.h; batch_job_queue.cpp).
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/core/console.h"
#include "engine/io/http_client.h"
#include "engine/runtime/batch_token_queue.h"
#include "engine/state/state_store.h"
#include "flowbatch/batch.h"

namespace flowbatch {

struct Exchange;
using ExchangePtr = std::shared_ptr<Exchange>;
class ProviderLane;
class RunState;

enum class CallMode : std::uint8_t { online, batch, automatic };

/// A call's batch keys ([calls.NAME] mode, batch_*), parsed once.
struct BatchSettings {
  CallMode mode = CallMode::online;
  std::string node;                                        ///< the call's name: custom ids and jobs are per call
  std::size_t min_items = 100;                             ///< auto: a job of fewer requests goes online instead
  std::chrono::milliseconds deadline{24LL * 3600 * 1000};  ///< auto: a job not done by then is cancelled
  std::chrono::milliseconds poll_interval{30000};
  std::chrono::milliseconds collect{2000};  ///< a job is sent once no request came for this long
  std::size_t max_items = 0;                ///< per job; 0: the provider's limit
};

/// The parts of a running job the summary and `flowbatch status` show.
using BatchJobRecord = StateStore::BatchJob;

class BatchJobs {
 public:
  BatchJobs(ProviderLane& lane, const BatchApi& api, RunState& run, HttpClient& http, TransferOptions transfer,
            Logger log, std::string pipeline);
  ~BatchJobs();

  /// Takes a request whose call is in batch or auto mode. Thread-safe.
  void add(ExchangePtr exchange);
  /// The custom id of a line of a job not ended in this run that holds `item` of call `node`
  /// (sent as the attempt it is about to make), if any: a request for it, alone or with other
  /// items of that line, is answered by that line. Thread-safe.
  std::optional<std::string> earlier_line(const std::string& node, const Item& item);
  /// An item's key in the state's record of a line: the call, the input record and the item's
  /// part of it (stable across runs).
  static std::uint64_t item_key(const std::string& node, const Item& item);
  /// `run --cancel-batches`: cancels every job the state knows that has not ended.
  void cancel_all();

 private:
  struct Line;
  struct Job;
  struct Collecting;

  void load();
  std::string custom_id_of(const Exchange& exchange) const;
  /// A request sent back to an earlier line that must go again after all gets a line of its own.
  void renew_custom_id(Exchange& exchange) const;
  void share_line(Job& job, Exchange& exchange);
  void forget_lines(const Job& job);
  void attach(Job& job, ExchangePtr exchange);
  void collect(ExchangePtr exchange);
  void collect_timer(const BatchSettings& settings);
  bool outside_window() const;
  void hold_for_window(ExchangePtr exchange);
  void submit(const std::string& node);
  /// Records a job that was parked (or made ready at once) and creates it.
  void start(const std::string& key);
  void create(const std::string& key);
  // The provider's queue (batch_job_queue.cpp).
  /// A line whose prompt alone is more than the queue holds: failed (auto mode: sent online).
  void too_large(const ExchangePtr& exchange, const std::string& model, std::int64_t tokens);
  /// A new job: created now, or parked until the queue has room for it.
  void offer(const std::string& key);
  /// Creates (or, outside the run window, dissolves) jobs the queue lets go.
  void go(const std::vector<std::string>& keys);
  void dissolve(const std::string& key);
  /// A job ended or never became a batch: its room in the queue goes to parked jobs.
  void release_room(const std::string& key);
  /// A job starts or stops waiting for room in the queue (the metrics count the jobs waiting).
  void set_parked(Job& job, bool parked);
  /// An earlier run's job a request attached to holds room in the queue until it ends.
  void count_attached(Job& job, const Exchange& exchange);
  /// `at_least`: the provider's Retry-After, which the back-off never undercuts.
  void queue_refused(const std::string& key, const BatchJobStatus& status,
                     std::chrono::milliseconds at_least = std::chrono::milliseconds(0));
  void created(const std::string& key, std::variant<BatchJobStatus, Failure> answer, bool transport);
  void recover(const std::string& key, const std::string& cursor, int pages);
  void give_up(const std::string& key);
  void collect_again_later();
  void end_recovery(Job& job);
  void ensure_polling();
  void poll();
  void polled(const std::string& key, std::variant<BatchJobStatus, Failure> answer, const HttpResponse& poll_response);
  bool stops_run(const Failure& failure, const HttpResponse& response);
  void fetch_results(Job& job);
  void deliver_all(Job& job);
  void deliver(Job& job, const ExchangePtr& exchange);
  void resend(const ExchangePtr& exchange, const std::string& why);
  void fail(const ExchangePtr& exchange, Failure failure);
  void abandon(const ExchangePtr& exchange);
  void abandon_everything();
  void record(const Job& job);
  /// Sends `request` on the I/O loop; `done` runs there with the answer, under no lock.
  void send(HttpRequest request, std::function<void(HttpResponse)> done);
  void later(std::chrono::milliseconds wait, std::function<void()> then);

  ProviderLane& lane_;
  const BatchApi& api_;
  RunState& run_;
  HttpClient& http_;
  TransferOptions transfer_;
  Logger log_;
  std::string pipeline_;

  // Recursive: the HTTP client answers at once, on the caller's thread, once a stop aborts it.
  std::recursive_mutex mutex_;
  bool loaded_ = false;
  bool stopping_ = false;
  std::map<std::string, std::unique_ptr<Job>> jobs_;               // by key
  std::unordered_map<std::string, std::string> job_of_;            // custom id -> job key
  std::unordered_map<std::uint64_t, const Line*> line_of_item_;    // item key -> the newest line holding it
  std::map<std::string, std::unique_ptr<Collecting>> collecting_;  // by call
  std::vector<ExchangePtr> held_for_window_;                       ///< new lines waiting for [pipeline] window to open
  bool window_timer_ = false;
  /// Requests of jobs that never came into being (the provider unreachable, the upload or create
  /// failing), waiting to be collected into a new job; each failure in a row waits longer.
  std::vector<ExchangePtr> held_after_failure_;
  bool failure_timer_ = false;
  std::uint32_t failed_in_a_row_ = 0;
  bool poll_scheduled_ = false;
  std::chrono::milliseconds interval_{0};
  std::chrono::milliseconds base_interval_{0};
  BatchTokenQueue queue_;
  std::unordered_set<std::string> queue_warned_;  ///< models whose queue refusal was logged
  std::uint64_t next_job_ = 0;
  int recovering_ = 0;  ///< jobs whose create got no answer, being looked for
  int creating_ = 0;    ///< create requests under way
};

}  // namespace flowbatch
