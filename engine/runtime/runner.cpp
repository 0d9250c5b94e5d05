#include "engine/runtime/runner.h"

#include "engine/graph/fingerprints.h"

#include <fmt/format.h>
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "engine/core/exceptions.h"
#include "engine/io/event_loop.h"
#include "engine/io/file_lock.h"
#include "engine/io/http_client.h"
#include "engine/runtime/build_context.h"
#include "engine/runtime/exit_codes.h"
#include "engine/runtime/flow.h"
#include "engine/runtime/node_runtime.h"
#include "engine/runtime/provider_lane.h"
#include "engine/runtime/report.h"
#include "engine/runtime/run_state.h"
#include "engine/runtime/signals.h"
#include "engine/state/state_store.h"

namespace flowbatch {
namespace {

using PacketNode = flow::function_node<Packet, flow::continue_msg>;
using Ticker = flow::async_node<int, Packet>;

class Runner;

class RunnerBuildContext final : public BuildContext {
 public:
  RunnerBuildContext(Runner& runner, std::size_t node_index, NodeStats& node_stats, Logger node_log);
  OutputPort& output(std::size_t port) override;
  ProviderLane& lane(std::size_t provider) override;
  std::uint16_t admit(flow::sender<Packet>& reader, flow::receiver<Packet>& admitted) override;

 private:
  Runner& runner_;
};

/// Owns everything one run needs, in destruction-safe order: the loop outlives the graph's
/// users, the graph outlives every node, and nothing is destroyed before wait_for_all().
class Runner {
 public:
  Runner(const Plan& plan, Console& console, const Redactor& redactor, const RunOptions& options)
      : plan_(plan),
        options_(options),
        extra_loops_(make_extra_loops(plan.pipeline.io_threads)),
        http_(all_loops(), plan.pipeline.response_memory),
        run_(plan.pipeline.max_in_flight, console, redactor, loop_),
        admission_limiter_(graph_, run_.admission.threshold()),
        router_(graph_, flow::unlimited, [this](const Packet& p) {
          route_admitted(p);
          return flow::continue_msg();
        }),
        ticker_(graph_, flow::serial, [](int, Ticker::gateway_type&) {}) {
    run_.admission.set_opener([this](long chunks) { admission_limiter_.decrementer().try_put(chunks); });
    run_.set_stop_hook([this] { hard_stop(); });
    run_.append_outputs = options.append_outputs;
    run_.set_idle_hook([this] { loop_.post([this] { check_finished(); }); });
    run_.set_drain_hook([this] { loop_.post([this] { drain(run_.resumable_reason()); }); });
    flow::make_edge(admission_limiter_, router_);
  }

  RunReport run() {
    open_state();
    run_.cache_file = plan_.pipeline.cache;  // opened by the first call that caches
    build();
    wire();
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
    try {
      for (auto& r : runtimes_) r->start();  // opens sources and sinks (a plugin's may throw anything)
    } catch (const FileBusy& e) {  // an output another run is writing: nothing was touched
      run_.stop_resumable(e.what());
      hard_stop();
    } catch (...) {  // no room for an output's folder (resumable), or a plugin's failure
      run_.stop_for_current_exception();  // stops the run through the stop hook
    }
    loop_.at(EventLoop::Clock::time_point::min(), [this] { tick(); }, [this] { release_ticker(); });
    graph_.wait_for_all();
    blocking_.stop();  // after a hard stop, blocking requests may still be finishing: wait for them

    if (progress_) run_.console.clear_status();
    finish_nodes();
    close_state();
    for (auto& l : extra_loops_) l->stop();
    loop_.stop();
    return report();
  }

 private:
  friend class RunnerBuildContext;

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

  void build() {
    for (const auto& node : plan_.nodes) {
      NodeStats& stats = run_.metrics.add_node(node.name, node.kind->name);
      auto& ports = ports_.emplace_back();
      for (std::size_t p = 0; p < node.kind->outputs.size(); ++p)
        ports.push_back(std::make_unique<OutputPort>(graph_, stats));
    }
    for (const auto& provider : plan_.providers)
      lanes_.push_back(std::make_unique<ProviderLane>(graph_, provider, run_, http_, blocking_,
                                                      Logger(run_.console, "provider:" + provider.name)));
    for (std::size_t i = 0; i < plan_.nodes.size(); ++i) {
      const PlanNode& node = plan_.nodes[i];
      RunnerBuildContext context(*this, i, run_.metrics.node(i), Logger(run_.console, node.kind->name + ":" + node.name));
      runtimes_.push_back(node.kind->build(*node.config, context));
    }
  }

  /// Connects every port to its consumers. A port with several consumers goes through a fan-out
  /// node that gives each its own copy of the items before any of them starts (a consumer owns
  /// what it receives and may move from it); a port nobody consumes ends its items as discarded.
  void wire() {
    for (std::size_t n = 0; n < plan_.nodes.size(); ++n) {
      for (std::size_t p = 0; p < ports_[n].size(); ++p) {
        auto& sender = ports_[n][p]->sender();
        const auto consumers = plan_.outputs_of(n, p);
        if (consumers.empty()) {
          flow::make_edge(sender, discard_node());
          continue;
        }
        if (consumers.size() == 1) {
          flow::make_edge(sender, *runtimes_[consumers.front()->to]->input());
          continue;
        }
        std::vector<flow::receiver<Packet>*> inputs;
        for (const PlanEdge* e : consumers) inputs.push_back(runtimes_[e->to]->input());
        auto& fan_out = fan_outs_.emplace_back(std::make_unique<PacketNode>(
            graph_, flow::unlimited, [this, inputs](const Packet& packet) {
              fan_out_packet(packet, inputs);
              return flow::continue_msg();
            }));
        flow::make_edge(sender, *fan_out);
      }
    }
    std::optional<std::chrono::milliseconds> shortest;
    for (auto& r : runtimes_) {
      if (auto interval = r->tick_interval()) {
        flow::make_edge(ticker_, *r->input());
        shortest = std::min(shortest.value_or(*interval), *interval);
      }
    }
    // A quarter of the shortest interval keeps time-outs accurate to 25%; within 5..50 ms.
    tick_period_ = std::clamp(shortest.value_or(std::chrono::milliseconds(50)) / 4, std::chrono::milliseconds(5),
                              std::chrono::milliseconds(50));
  }

  PacketNode& discard_node() {
    if (!discard_) {
      discard_ = std::make_unique<PacketNode>(graph_, flow::unlimited, [this](const Packet& p) {
        if (!p.is_tick()) run_.ledger.end(*p.items, Ending::discarded);
        return flow::continue_msg();
      });
    }
    return *discard_;
  }

  /// Copies for every consumer but the first (which gets the original), all made before any of
  /// them is sent on.
  void fan_out_packet(const Packet& packet, const std::vector<flow::receiver<Packet>*>& inputs) {
    if (packet.is_tick()) {
      for (auto* input : inputs) input->try_put(packet);
      return;
    }
    std::vector<Packet> copies;
    for (std::size_t c = 1; c < inputs.size(); ++c) {
      ItemVector copy;
      copy.reserve(packet.items->size());
      for (Item& item : *packet.items) copy.push_back(run_.ledger.copy(item, c));
      copies.push_back(Packet::of(std::move(copy)));
    }
    inputs[0]->try_put(packet);
    for (std::size_t c = 1; c < inputs.size(); ++c) inputs[c]->try_put(copies[c - 1]);
  }

  void route_admitted(const Packet& p) {
    if (p.is_tick() || p.items->empty()) return;
    if (run_.draining()) {  // admitted after Ctrl-C: never started, so a resumed run does them
      run_.ledger.end(*p.items, Ending::abandoned);
      return;
    }
    admitted_targets_[ItemLedger::source(p.items->front())]->try_put(p);
  }

  // --- state ----------------------------------------------------------------------------------
  void open_state() {
    if (!options_.use_state || plan_.pipeline.state.empty()) return;
    // Held for the whole run, before anything is archived or cut back: a second run of the same
    // graph would otherwise send every request again and corrupt the first one's books.
    if (!options_.state_locked) run_lock_ = lock_state(plan_);
    if (!options_.fresh && options_.replay_id == 0) start_over_if_results_would_be_stale();
    if (options_.fresh) {
      if (auto moved = StateStore::archive(plan_.pipeline.state)) archived_state_ = moved->string();
    }
    state_ = std::make_unique<StateStore>(plan_.pipeline.state, plan_.pipeline.name);
    if (options_.replay_id != 0) {
      run_.replayed_before = state_->replayed_records(options_.replay_id);
    } else if (auto replay = state_->unfinished_replay()) {
      throw RunBlocked(fmt::format("a replay of {} is not finished (started {}); run `flowbatch replay {} {}` again to "
                                   "finish it first",
                                   replay->file, replay->started_at, replay->file, plan_.graph_file.string()));
    }
    commits_ = std::make_unique<CommitQueue>([this](const std::string& message, bool disk_full) {
      if (disk_full) run_.stop_resumable_now(message);
      else run_.fail(message);
    });
    state_->set_fingerprints(to_json(plan_.fingerprints));
    run_.state = state_.get();
    run_.commits = commits_.get();
    run_.ledger.track_discards();
  }

  /// Results made under other result-relevant settings (a prompt, a model, an input path) are
  /// never kept silently: the run starts over, as --fresh does, and says which keys changed. With
  /// the response cache, unchanged calls are answered from it, so only the change is paid for.
  void start_over_if_results_would_be_stale() {
    if (!std::filesystem::exists(plan_.pipeline.state)) return;
    StateSummary before;
    try {
      before = read_state_summary(plan_.pipeline.state);
    } catch (const std::runtime_error&) {
      return;  // a damaged state: opening it below says so, with the way out
    }
    if (before.fingerprints.empty()) return;  // a state older than fingerprints: nothing to compare
    const auto changed = changed_keys(fingerprints_from_json(before.fingerprints), plan_.fingerprints);
    if (changed.empty()) return;
    run_.console.log(LogLevel::warn, "", fmt::format("{} changed since the last run: starting over", describe_changes(changed)));
    options_.fresh = true;
  }

  void close_state() {
    if (!state_) return;
    try {
      run_.commit_discards();
      commits_->drain();  // the outputs' last commits and the discards, before the run's status
      const Metrics& m = run_.metrics;
      state_->set_counters({{"succeeded", static_cast<std::int64_t>(m.succeeded.load())},
                            {"dead_lettered", static_cast<std::int64_t>(m.dead.load())},
                            {"discarded", static_cast<std::int64_t>(m.discarded.load())},
                            {"skipped", static_cast<std::int64_t>(m.skipped.load())},
                            {"requests", static_cast<std::int64_t>(m.requests.load())}});
      state_->set_status(std::string(to_string(status())));
      if (status() == RunStatus::finished) {
        state_->clear_partial();  // every record is complete
        if (options_.replay_id != 0) state_->set_replay_status(options_.replay_id, "finished");
      }
    } catch (const std::exception&) {
      run_.stop_for_current_exception();
    }
  }

  // --- running ------------------------------------------------------------------------------
  /// On the loop thread, every tick_period_: ticks for time-based nodes, progress, and the
  /// end-of-run check. Holds the ticker's reserve_wait until the run is over.
  void tick() {
    if (ticker_released_) return;
    if (run_.finished()) {
      release_ticker();
      return;
    }
    ticker_.gateway().try_put(Packet::tick());
    if (progress_) progress_->update();
    if (state_ && EventLoop::Clock::now() >= next_state_flush_) {  // discarded records, now and then
      next_state_flush_ = EventLoop::Clock::now() + std::chrono::seconds(1);
      run_.commit_discards();
    }
    loop_.after(tick_period_, [this] { tick(); }, [this] { release_ticker(); });
  }

  /// On the loop thread, when the last item may just have ended.
  void check_finished() {
    if (!ticker_released_ && run_.finished()) release_ticker();
  }

  void release_ticker() {
    if (ticker_released_) return;
    ticker_released_ = true;
    ticker_.gateway().release_wait();
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
    loop_.skip_waits();  // items waiting to retry would start new requests: leave them for the resume
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
    for (auto& r : runtimes_) {
      try {
        r->finish();  // the last flush of sinks (a plugin's may throw anything)
      } catch (...) {
        run_.stop_for_current_exception();
      }
    }
  }

  /// How the run ended; the one place that decides it.
  RunStatus status() const {
    if (run_.failed()) return RunStatus::failed;
    if (run_.stopped_resumable()) return RunStatus::stopped;
    if (run_.draining() || run_.outstanding() != 0) return RunStatus::interrupted;
    return RunStatus::finished;
  }

  static int exit_code(RunStatus status, bool dead_letters_hold_items) {
    switch (status) {
      case RunStatus::failed: return kExitFatal;
      case RunStatus::stopped: return kExitResumable;
      case RunStatus::interrupted: return kExitInterrupted;
      case RunStatus::finished: return dead_letters_hold_items ? kExitDeadLetters : kExitOk;
    }
    return kExitFatal;
  }

  RunReport report() {
    RunReport r;
    const RunStatus how = status();
    r.interrupted = how == RunStatus::interrupted;
    r.resumable_reason = run_.resumable_reason();
    r.archived_state = archived_state_;
    r.fatal_error = run_.fatal_error();
    const Metrics& m = run_.metrics;
    r.succeeded = m.succeeded.load();
    r.dead = m.dead.load();
    r.discarded = m.discarded.load();
    r.abandoned = m.abandoned.load() + static_cast<std::uint64_t>(std::max<std::int64_t>(0, run_.outstanding()));
    r.requests = m.requests.load();
    r.retries = m.retries.load();
    r.peak_in_flight = m.peak_outstanding.load();
    r.summary = run_summary(run_, plan_.pipeline.name, how) + provider_summary();
    r.exit_code = exit_code(how, run_.metrics.dead_held.load() > 0);
    r.json = run_report_json(run_, plan_.pipeline.name, how);
    r.json["exit_code"] = r.exit_code;
    if (!r.fatal_error.empty()) r.json["error"] = r.fatal_error;
    return r;
  }

  /// What each provider's gate did: pauses after 429s, the concurrency and rate it settled on.
  std::string provider_summary() const {
    std::string out;
    for (const auto& lane : lanes_) {
      const RateGate& g = lane->gate();
      const RateSettings& s = lane->spec().settings.rate;
      std::string line;
      if (g.pauses()) line += fmt::format(", {} pauses for rate limits ({:.1f} s)", g.pauses(), static_cast<double>(g.paused_ms()) / 1000.0);
      if (s.adaptive) line += fmt::format(", adaptive concurrency ended at {}", g.concurrency_limit());
      if (g.requests_per_minute() > 0 && g.requests_per_minute() != s.requests_per_minute)
        line += fmt::format(", requests/min settled at {:.0f}", g.requests_per_minute());
      if (!line.empty()) out += "  provider " + lane->spec().name + ": " + line.substr(2) + "\n";
    }
    return out;
  }

  const Plan& plan_;
  RunOptions options_;
  EventLoop loop_;  // declared before the graph: stopped only after wait_for_all()
  std::vector<std::unique_ptr<EventLoop>> extra_loops_;  // more I/O threads (pipeline.io_threads)
  HttpClient http_;
  RunState run_;
  flow::graph graph_;
  flow::limiter_node<Packet, long> admission_limiter_;
  PacketNode router_;
  Ticker ticker_;
  std::vector<flow::receiver<Packet>*> admitted_targets_;
  std::vector<std::vector<std::unique_ptr<OutputPort>>> ports_;
  std::vector<std::unique_ptr<ProviderLane>> lanes_;
  std::vector<std::unique_ptr<NodeRuntime>> runtimes_;
  std::vector<std::unique_ptr<PacketNode>> fan_outs_;
  std::unique_ptr<PacketNode> discard_;
  std::optional<ProgressReporter> progress_;
  std::chrono::milliseconds tick_period_{50};
  bool ticker_released_ = false;  // loop thread only
  JobQueue blocking_{plan_.pipeline.blocking_threads};  // after lanes_: its jobs use them
  std::unique_ptr<RunLock> run_lock_;  // before state_: released last
  std::unique_ptr<StateStore> state_;
  std::unique_ptr<CommitQueue> commits_;  // after state_ and the writers: its jobs use both
  std::string archived_state_;
  EventLoop::Clock::time_point next_state_flush_{};
};

RunnerBuildContext::RunnerBuildContext(Runner& runner, std::size_t node_index, NodeStats& node_stats, Logger node_log)
    : BuildContext(runner.graph_, runner.run_, runner.plan_, node_index, node_stats, std::move(node_log)),
      runner_(runner) {}

OutputPort& RunnerBuildContext::output(std::size_t port) { return *runner_.ports_[index][port]; }

ProviderLane& RunnerBuildContext::lane(std::size_t provider) { return *runner_.lanes_[provider]; }

std::uint16_t RunnerBuildContext::admit(flow::sender<Packet>& reader, flow::receiver<Packet>& admitted) {
  flow::make_edge(reader, runner_.admission_limiter_);
  runner_.admitted_targets_.push_back(&admitted);
  runner_.run_.source_names.push_back(node().name);
  const std::int64_t replay = runner_.options_.replay_id;
  runner_.run_.source_keys.push_back(replay ? fmt::format("replay:{}:{}", replay, node().name) : node().name);
  return static_cast<std::uint16_t>(runner_.admitted_targets_.size() - 1);
}

}  // namespace

std::unique_ptr<RunLock> lock_state(const Plan& plan) {
  return std::make_unique<RunLock>(plan.pipeline.state.string() + ".lock",
                                   fmt::format("the state of pipeline \"{}\"", plan.pipeline.name));
}

RunReport run_plan(const Plan& plan, Console& console, const Redactor& redactor, const RunOptions& options) {
  std::optional<oneapi::tbb::global_control> threads;
  if (plan.pipeline.threads > 0)
    threads.emplace(oneapi::tbb::global_control::max_allowed_parallelism, plan.pipeline.threads);
  Runner runner(plan, console, redactor, options);
  return runner.run();
}

}  // namespace flowbatch
