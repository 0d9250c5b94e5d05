// Run control: opens the run's state, starts the I/O loops and the graph that assembly built,
// ticks, turns signals into a drain or a stop, closes the state, and hands the end over to the
// report (engine/runtime/report.h), which decides the run's status once.
#include "engine/runtime/runner.h"

#include "engine/graph/fingerprints.h"

#include <fmt/format.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

#include "engine/core/exceptions.h"
#include "engine/io/event_loop.h"
#include "engine/io/file_lock.h"
#include "engine/io/http_client.h"
#include "engine/runtime/alerter.h"
#include "engine/runtime/assembly.h"
#include "engine/runtime/delivery.h"
#include "engine/runtime/flow.h"
#include "engine/runtime/notifier.h"
#include "engine/runtime/report.h"
#include "engine/runtime/report_html.h"
#include "engine/runtime/run_control.h"
#include "engine/runtime/run_state.h"
#include "engine/runtime/signals.h"
#include "engine/state/commit_queue.h"
#include "engine/state/state_store.h"

namespace flowbatch {

std::vector<std::string> result_settings_changed(const Plan& plan) {
  if (plan.pipeline.state.empty() || !std::filesystem::exists(plan.pipeline.state)) return {};
  std::string before;
  try {
    before = read_state_fingerprints(plan.pipeline.state);
  } catch (const std::runtime_error&) {
    return {};  // a damaged state: opening it says so, with the way out
  }
  if (before.empty()) return {};  // a state older than fingerprints: nothing to compare
  return changed_keys(fingerprints_from_json(before), plan.fingerprints);
}

namespace {

using Ticker = flow::async_node<int, Packet>;
/// The state's counter of what the job has spent, earlier runs included (nano-dollars).
constexpr const char* kCostCounter = "cost_nano_usd";

/// The run's durable state, opened before the run's shared state is made (which gets it as a
/// fixed service) and held until the run is over: the lock, the store and the commit thread.
class StateSession {
 public:
  StateSession(const Plan& plan, const RunOptions& options, CommitQueue::FailureHandler on_failure) {
    if (!options.use_state || plan.pipeline.state.empty()) return;
    // Held for the whole run, before anything is archived or cut back: a second run of the same
    // graph would otherwise send every request again and corrupt the first one's books.
    if (!options.state_locked) lock_ = lock_state(plan);
    if (!options.fresh && options.replay_id == 0) changed_ = result_settings_changed(plan);
    if (options.fresh || !changed_.empty()) {
      if (auto moved = StateStore::archive(plan.pipeline.state)) archived_ = moved->string();
    }
    store_ = std::make_unique<StateStore>(plan.pipeline.state, plan.pipeline.name);
    store_->set_fingerprints(to_json(plan.fingerprints));
    if (options.replay_id != 0) {
      replayed_before_ = store_->replayed_records(options.replay_id);
    } else if (auto replay = store_->unfinished_replay()) {
      throw RunBlocked(
          fmt::format("a replay of {} is not finished (started {}); run `flowbatch replay {} {}` again to "
                      "finish it first",
                      replay->file, replay->started_at, replay->file, plan.graph_file.string()));
    }
    commits_ = std::make_unique<CommitQueue>(std::move(on_failure));
  }
  StateSession(const StateSession&) = delete;
  StateSession& operator=(const StateSession&) = delete;

  /// What the run's shared state gets (the replayed hashes move there).
  RunServices services(const RunOptions& options, const PipelineOptions& pipeline) {
    CostLimits cost{from_usd(pipeline.max_cost_usd), from_usd(pipeline.warn_cost_usd), 0};
    if (store_) cost.spent_before = store_->counter(kCostCounter);  // the cap is the job's, not one run's
    return RunServices{store_.get(),     commits_.get(), options.append_outputs, std::move(replayed_before_),
                       pipeline.cache,   cost,           options.sample_rate,    options.sample_seed,
                       options.dry_calls};
  }
  /// The result-relevant keys changed since the state was written: the run started over.
  const std::vector<std::string>& changed() const { return changed_; }
  StateStore* store() const { return store_.get(); }
  CommitQueue* commits() const { return commits_.get(); }
  const std::string& archived() const { return archived_; }

 private:
  std::unique_ptr<RunLock> lock_;  // first: released last
  std::vector<std::string> changed_;
  std::string archived_;  // --fresh: where the previous state went
  std::unique_ptr<StateStore> store_;
  std::unordered_set<std::uint64_t> replayed_before_;
  std::unique_ptr<CommitQueue> commits_;  // after store_: its jobs use it
};

/// Owns everything one run needs, in destruction-safe order: the loop outlives the graph's
/// users, the graph outlives every node, and nothing is destroyed before wait_for_all().
class Runner {
 public:
  Runner(const Plan& plan, Console& console, const Redactor& redactor, const RunOptions& options)
      : plan_(plan),
        options_(options),
        server_(make_server(plan)),  // before the state is touched: a busy port blocks the run first
        extra_loops_(make_extra_loops(plan.pipeline.io_threads)),
        http_(all_loops(), plan.pipeline.response_memory),
        // Commits run only once nodes post them, long after run_ exists.
        session_(plan, options,
                 [this](const std::string& message, bool disk_full) {
                   if (disk_full) run_.stop_resumable_now(message);
                   else run_.fail(message);
                 }),
        run_(plan.pipeline.max_in_flight, console, redactor, loop_, session_.services(options, plan.pipeline)),
        assembly_(graph_, plan, run_, http_, blocking_, options.replay_id),
        ticker_(graph_, flow::serial, [](int, Ticker::gateway_type&) {}) {
    if (!session_.changed().empty())
      run_.console.log(
          LogLevel::warn, "",
          fmt::format("{} changed since the last run: starting over", describe_changes(session_.changed())));
    if (options.log_item_costs) run_.metrics.item_costs.enable();
    run_.window = plan.pipeline.window;
    run_.window_exit = plan.pipeline.window_exit;
    run_.set_stop_hook([this] { hard_stop(); });
    run_.set_idle_hook([this] { loop_.post([this] { check_finished(); }); });
    run_.set_drain_hook([this] { loop_.post([this] { drain(run_.resumable_reason()); }); });
    // Also without an endpoint: an alert's pause takes the same path as POST /pause.
    control_.emplace(run_, plan_, assembly_.lanes(), [this] { loop_.post([this] { drain("drain requested"); }); });
    if (!plan.notify.empty() || !plan.alerts.empty()) delivery_.emplace(http_, loop_, run_.console);
    if (!plan.notify.empty()) notifier_.emplace(plan_, run_, *delivery_);
    if (!plan.alerts.empty())
      alerter_.emplace(plan_, run_, assembly_.lanes(), *delivery_, [this] { control_->pause(); });
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  /// The commit thread's jobs use the writers, which go before the session does: whatever is
  /// still queued (a run left by an exception) runs while they exist.
  ~Runner() {
    stop_listening();
    if (session_.commits()) session_.commits()->drain();
  }

  RunReport run() {
    assembly_.build(flow::output_port<0>(ticker_));  // an async_node's successors attach to its port
    if (!plan_.pipeline.report_html.empty()) html_.emplace(plan_, run_, assembly_.lanes());
    start_listening();
    std::optional<SignalPipe> signals;
    if (options_.handle_signals) {
      signals.emplace();
      loop_.watch(signals->read_fd(), [this, &signals] { on_signal(signals->drain()); });
    }
    const bool live = plan_.pipeline.progress == ProgressMode::tty ||
                      (plan_.pipeline.progress == ProgressMode::automatic && run_.console.is_tty());
    if (plan_.pipeline.progress != ProgressMode::off)
      progress_.emplace(run_, run_.console, live, plan_.pipeline.progress_interval);

    // Reserved before anything can end the run: a source whose records were all done by an
    // earlier run finishes at once, and the loop may release the ticker before the next line.
    ticker_.gateway().reserve_wait();
    loop_.start();
    for (auto& l : extra_loops_) l->start();
    if (options_.cancel_batches)
      for (const auto& lane : assembly_.lanes()) lane->cancel_batches();
    try {
      for (const auto& r : assembly_.runtimes()) r->start();  // opens sources and sinks (a plugin's may throw anything)
    } catch (const FileBusy& e) {                             // an output another run is writing: nothing was touched
      run_.stop_resumable(e.what());
      hard_stop();
    } catch (...) {                       // no room for an output's folder (resumable), or a plugin's failure
      run_.stop_for_current_exception();  // stops the run through the stop hook
    }
    loop_.at(
        EventLoop::Clock::time_point::min(), [this] { tick(); }, [this] { release_ticker(); });
    wait_for_ticker();
    graph_.wait_for_all();
    blocking_.stop();  // after a hard stop, blocking requests may still be finishing: wait for them

    if (progress_) run_.console.clear_status();
    finish_nodes();
    close_state();
    stop_listening();
    if (html_) html_->finish(to_string(run_status(run_)));
    RunReport report = make_run_report(run_, plan_.pipeline.name, assembly_.lanes());
    report.archived_state = session_.archived();
    if (alerter_) alerter_->finish();          // before the loops stop: webhooks go through them
    if (notifier_) notifier_->finish(report);  // the finish notification is the last message
    for (auto& l : extra_loops_) l->stop();
    loop_.stop();
    return report;
  }

 private:
  static std::unique_ptr<ControlServer> make_server(const Plan& plan) {
    if (plan.pipeline.listen.empty()) return nullptr;
    try {
      return std::make_unique<ControlServer>(plan.pipeline.listen, plan.pipeline.listen_token);
    } catch (const std::runtime_error& e) {  // a port another run holds: nothing was touched
      throw RunBlocked(fmt::format("pipeline.listen: {}", e.what()));
    }
  }

  void start_listening() {
    if (!server_) return;
    server_->start([this](const ControlRequest& request) { return control_->handle(request); });
    const std::string address = server_->address();
    if (const auto file = listen_file(plan_); !file.empty()) {
      try {
        record_listen_address(file, address);
      } catch (const std::exception& e) {  // flowbatch ctl then needs the address in the graph; the run goes on
        run_.console.log(LogLevel::warn, "", fmt::format("{} (flowbatch ctl will not find the run)", e.what()));
      }
    }
    run_.console.log(LogLevel::info, "", fmt::format("listening on http://{} (/metrics, /status)", address));
  }

  /// The endpoint goes before the run's state does (its handler reads it); `ctl` then finds no run.
  void stop_listening() {
    if (!server_) return;
    server_->stop();
    if (const auto file = listen_file(plan_); !file.empty()) {
      std::error_code ignored;  // already gone: nothing to tidy
      std::filesystem::remove(file, ignored);
    }
  }

  static std::vector<std::unique_ptr<EventLoop>> make_extra_loops(std::size_t io_threads) {
    std::vector<std::unique_ptr<EventLoop>> loops;
    for (std::size_t i = 1; i < io_threads; ++i) loops.push_back(std::make_unique<EventLoop>());
    return loops;
  }
  std::vector<EventLoop*> all_loops() {
    std::vector<EventLoop*> loops = {&loop_};
    for (auto& l : extra_loops_) loops.push_back(l.get());
    return loops;
  }

  void close_state() {
    StateStore* store = session_.store();
    if (!store) return;
    try {
      run_.commit_discards();
      session_.commits()->drain();  // the outputs' last commits and the discards, before the run's status
      const Metrics& m = run_.metrics;
      store->set_counters({{kCostCounter, run_.budget.spent()},
                           {"succeeded", static_cast<std::int64_t>(m.succeeded.load())},
                           {"dead_lettered", static_cast<std::int64_t>(m.dead.load())},
                           {"discarded", static_cast<std::int64_t>(m.discarded.load())},
                           {"skipped", static_cast<std::int64_t>(m.skipped.load())},
                           {"requests", static_cast<std::int64_t>(m.requests.load())}});
      const RunStatus status = run_status(run_);
      store->set_status(std::string(to_string(status)));
      if (status == RunStatus::finished) {
        store->clear_partial();  // every record is complete
        if (options_.replay_id != 0) store->set_replay_status(options_.replay_id, "finished");
      }
    } catch (const std::exception&) {
      run_.stop_for_current_exception();
    }
  }

  /// On the loop thread, every tick period: ticks for time-based nodes, progress, and the
  /// end-of-run check. Holds the ticker's reserve_wait until the run is over.
  void tick() {
    if (ticker_released_) return;
    if (run_.finished()) {
      release_ticker();
      return;
    }
    ticker_.gateway().try_put(Packet::tick());
    if (progress_) progress_->update();
    if (notifier_) notifier_->tick();
    if (alerter_) alerter_->tick();
    if (html_) html_->tick();  // a page of some 100 KB, rewritten every report_interval_ms at most
    if (session_.store() && EventLoop::Clock::now() >= next_state_flush_) {  // discarded records, now and then
      next_state_flush_ = EventLoop::Clock::now() + std::chrono::seconds(1);
      run_.commit_discards();
      record_spending();
    }
    loop_.after(
        assembly_.tick_period(), [this] { tick(); }, [this] { release_ticker(); });
  }

  /// What the job has spent, kept in the state now and then (and exactly at the end), so a resumed
  /// run's cost cap counts it. While running, the requests in flight count as spent: after a kill -9
  /// their answers are lost but the provider may have billed them, so the cap must not forget them.
  /// What such a kill can still forget: answers in the last second since the previous record.
  void record_spending() {
    const NanoUsd spent = run_.budget.spent() + run_.budget.reserved();
    if (spent == recorded_spending_) return;
    recorded_spending_ = spent;
    session_.commits()->post("the job's spending", [store = session_.store(), spent] {
      store->set_counters({{kCostCounter, spent}});
    });
  }

  /// On the loop thread, when the last item may just have ended.
  void check_finished() {
    if (!ticker_released_ && run_.finished()) release_ticker();
  }

  void release_ticker() {
    if (ticker_released_) return;
    ticker_released_ = true;
    ticker_.gateway().release_wait();
    {
      std::lock_guard lock(ticker_mutex_);
      ticker_gone_ = true;
    }
    ticker_gone_changed_.notify_all();
  }

  /// This thread sleeps while the graph runs: wait_for_all() cannot return before the ticker is
  /// released (it holds the graph), and a thread waiting in it spins (sched_yield) between the
  /// graph's tasks, which on an I/O-bound run came to a quarter of the CPU (issue 17). The
  /// graph's tasks run on the workers of its arena (run_plan), which has a slot for each.
  void wait_for_ticker() {
    std::unique_lock lock(ticker_mutex_);
    ticker_gone_changed_.wait(lock, [this] { return ticker_gone_; });
  }

  void on_signal(int count) {
    if (count >= 2) {
      run_.console.log(LogLevel::warn, "", "second interrupt: stopping now");
      hard_stop();
      return;
    }
    drain("interrupted");
  }

  /// Stops admitting work; requests under way may finish within the grace period.
  void drain(const std::string& why) {
    if (run_.draining()) return;
    run_.begin_drain();
    if (control_) control_->resume();  // requests held by a pause must reach the gate's exit to be let go
    loop_.skip_waits();                // items waiting to retry would start new requests: leave them for the resume
    run_.console.log(LogLevel::warn, "",
                     fmt::format("{}: finishing in-flight items (up to {} s; press Ctrl-C again to stop now)", why,
                                 plan_.pipeline.shutdown_grace.count() / 1000));
    loop_.after(plan_.pipeline.shutdown_grace, [this] {
      if (!ticker_released_) {
        run_.console.log(LogLevel::warn, "", "grace period over: stopping now");
        hard_stop();
      }
    });
  }

  /// Stops at once: no new task starts, every timer is cancelled (releasing its waits), and
  /// wait_for_all() returns as soon as running bodies finish. Buffered results still get flushed.
  void hard_stop() {
    run_.mark_hard_stop();
    run_.begin_drain();
    graph_.cancel();
    loop_.cancel_timers();
    http_.abort_all();
  }

  void finish_nodes() {
    for (const auto& r : assembly_.runtimes()) {
      try {
        r->finish();  // the last flush of sinks (a plugin's may throw anything)
      } catch (...) {
        run_.stop_for_current_exception();
      }
    }
  }

  const Plan& plan_;
  RunOptions options_;
  std::unique_ptr<ControlServer> server_;  // stopped explicitly (stop_listening) before what it reads goes
  EventLoop loop_;                         // declared before the graph: stopped only after wait_for_all()
  std::vector<std::unique_ptr<EventLoop>> extra_loops_;  // more I/O threads (pipeline.io_threads)
  HttpClient http_;
  StateSession session_;  // before run_, which gets its services
  RunState run_;
  flow::graph graph_;
  GraphAssembly assembly_;
  Ticker ticker_;
  std::optional<ProgressReporter> progress_;
  std::optional<RunControl> control_;  // the endpoint's routes, and the pause of [alerts.NAME]
  std::optional<HtmlReport> html_;     // pipeline.report_html
  std::optional<Delivery> delivery_;   // [notify.NAME], [alerts.NAME]: before the notifier and alerter, which use it
  std::optional<Notifier> notifier_;
  std::optional<Alerter> alerter_;
  bool ticker_released_ = false;  // loop thread only
  std::mutex ticker_mutex_;
  std::condition_variable ticker_gone_changed_;
  bool ticker_gone_ = false;                            // guarded by ticker_mutex_: released, the run is ending
  JobQueue blocking_{plan_.pipeline.blocking_threads};  // after assembly_ (its lanes): its jobs use them
  EventLoop::Clock::time_point next_state_flush_{};
  NanoUsd recorded_spending_ = -1;  // what record_spending() last wrote (loop thread only)
};

}  // namespace

std::unique_ptr<RunLock> lock_state(const Plan& plan) {
  return std::make_unique<RunLock>(plan.pipeline.state.string() + ".lock",
                                   fmt::format("the state of pipeline \"{}\"", plan.pipeline.name));
}

std::size_t graph_threads(const Plan& plan) {
  if (plan.pipeline.threads > 0) return plan.pipeline.threads;
  const auto remote = [](const PlanProvider& p) { return p.remote; };
  if (!plan.providers.empty() && std::all_of(plan.providers.begin(), plan.providers.end(), remote)) return 1;
  return static_cast<std::size_t>(std::max(1, oneapi::tbb::info::default_concurrency()));
}

RunReport run_plan(const Plan& plan, Console& console, const Redactor& redactor, const RunOptions& options) {
  // The graph runs in an arena of its own whose every slot is a worker's: this thread only waits
  // (Runner::wait_for_ticker), so TBB may start one worker more than the threads wanted.
  const std::size_t threads = graph_threads(plan);
  oneapi::tbb::global_control workers(oneapi::tbb::global_control::max_allowed_parallelism, threads + 1);
  oneapi::tbb::task_arena arena(static_cast<int>(threads), /*reserved_for_masters=*/0);
  std::optional<Runner> runner;
  arena.execute([&] { runner.emplace(plan, console, redactor, options); });  // its graph joins the arena
  return runner->run();
}

}  // namespace flowbatch
