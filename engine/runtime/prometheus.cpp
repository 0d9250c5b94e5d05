#include "engine/runtime/prometheus.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "engine/runtime/provider_lane.h"

namespace flowbatch {

std::string label_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

/// Writes one metric family: its HELP and TYPE once, then samples, each with the pipeline label
/// first. Families must not interleave (the format requires each family's samples together).
class Exposition {
 public:
  explicit Exposition(const std::string& pipeline) : pipeline_(fmt::format("pipeline=\"{}\"", label_value(pipeline))) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  /// `labels`: extra labels, already formatted (`node="x",kind="y"`), or empty.
  template <class T>
  void sample(std::string_view name, const std::string& labels, T value) {
    out_ += fmt::format("{}{{{}{}{}}} {}\n", name, pipeline_, labels.empty() ? "" : ",", labels, value);
  }
  /// A histogram of `h` in seconds: cumulative buckets at every fourth of its own bounds (each
  /// about twice the one before, 0.17 ms to about 2 h: exact, since they are its own), _sum, _count.
  void histogram(std::string_view name, const std::string& labels, const LatencyHistogram& h) {
    std::uint64_t cumulative = 0;
    const std::string prefix = labels.empty() ? "" : labels + ",";
    for (std::size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
      cumulative += h.in_bucket(i);
      if (i % 4 == 3 && i + 1 < LatencyHistogram::kBuckets)
        sample(fmt::format("{}_bucket", name),
               fmt::format("{}le=\"{:.6g}\"", prefix, LatencyHistogram::upper_ms(i) / 1000), cumulative);
    }
    sample(fmt::format("{}_bucket", name), prefix + "le=\"+Inf\"", cumulative);
    sample(fmt::format("{}_sum", name), labels, h.sum_seconds());
    sample(fmt::format("{}_count", name), labels, cumulative);  // the buckets' total, so the two always agree
  }
  std::string take() { return std::move(out_); }

 private:
  std::string pipeline_;
  std::string out_;
};

std::string label(std::string_view name, std::string_view value) {
  return fmt::format("{}=\"{}\"", name, label_value(value));
}

void run_metrics(Exposition& e, const RunState& run) {
  const Metrics& m = run.metrics;
  const double running_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - run.started).count();
  e.family("flowbatch_run_start_time_seconds", "gauge", "When the run started (Unix time).");
  e.sample("flowbatch_run_start_time_seconds", "", static_cast<double>(RunState::unix_ms()) / 1000 - running_s);
  e.family("flowbatch_run_paused", "gauge", "1 while the run is paused from its control API.");
  e.sample("flowbatch_run_paused", "", run.paused() ? 1 : 0);
  e.family("flowbatch_run_draining", "gauge", "1 once the run is draining (Ctrl-C, POST /drain, a stop).");
  e.sample("flowbatch_run_draining", "", run.draining() ? 1 : 0);
  e.family("flowbatch_records_expected", "gauge", "Input records the sources hold, when known (0: unknown).");
  e.sample("flowbatch_records_expected", "", run.expected_items.load());
  e.family("flowbatch_records_total", "counter",
           "Input records done: ok (every item at a sink), failed (some item dead-lettered), skipped (done before).");
  e.sample("flowbatch_records_total", label("outcome", "ok"), m.records_ok.load());
  e.sample("flowbatch_records_total", label("outcome", "failed"), m.records_failed.load());
  e.sample("flowbatch_records_total", label("outcome", "skipped"), m.records_skipped.load());
  e.family("flowbatch_items_admitted_total", "counter", "Items read from the sources.");
  e.sample("flowbatch_items_admitted_total", "", m.admitted.load());
  e.family("flowbatch_items_ended_total", "counter", "Items that left the graph, by how.");
  e.sample("flowbatch_items_ended_total", label("outcome", "succeeded"), m.succeeded.load());
  e.sample("flowbatch_items_ended_total", label("outcome", "dead_lettered"), m.dead.load());
  e.sample("flowbatch_items_ended_total", label("outcome", "discarded"), m.discarded.load());
  e.sample("flowbatch_items_ended_total", label("outcome", "abandoned"), m.abandoned.load());
  e.family("flowbatch_items_in_flight", "gauge", "Items alive now (admitted, not yet ended); max_in_flight bounds it.");
  e.sample("flowbatch_items_in_flight", "", run.outstanding());
  e.family("flowbatch_items_in_flight_peak", "gauge", "The most items alive at once so far.");
  e.sample("flowbatch_items_in_flight_peak", "", m.peak_outstanding.load());
  e.family("flowbatch_items_retry_waiting", "gauge", "Items waiting out a retry back-off now.");
  e.sample("flowbatch_items_retry_waiting", "", std::max<std::int64_t>(0, m.retry_waiting.load()));
  e.family("flowbatch_retries_total", "counter", "Retry attempts scheduled.");
  e.sample("flowbatch_retries_total", "", m.retries.load());
  e.family("flowbatch_request_splits_total", "counter", "Multi-item requests split to isolate a bad item.");
  e.sample("flowbatch_request_splits_total", "", m.splits.load());
}

/// Followed sources' lag, one sample per source in its own unit (sources of other units do not add up).
void lag_metrics(Exposition& e, const RunState& run) {
  const std::vector<FollowLags::Entry> lags = run.follow_lags.entries();
  if (lags.empty()) return;
  e.family("flowbatch_source_lag", "gauge",
           "A followed source's input not read yet, in its unit: bytes of a file, entries of a stream not yet "
           "delivered to its group, rows of a table not yet claimed.");
  for (const auto& [source, lag] : lags)
    e.sample("flowbatch_source_lag", label("source", source) + "," + label("unit", lag.unit), lag.count);
  if (std::none_of(lags.begin(), lags.end(),
                   [](const FollowLags::Entry& l) { return l.lag.unacknowledged.has_value(); }))
    return;
  e.family("flowbatch_source_unacknowledged", "gauge",
           "A followed queue's input read by its workers and not acknowledged yet: a stream's pending entries, a "
           "table's claimed rows.");
  for (const auto& [source, lag] : lags)
    if (lag.unacknowledged)
      e.sample("flowbatch_source_unacknowledged", label("source", source) + "," + label("unit", lag.unit),
               *lag.unacknowledged);
}

void class_metrics(Exposition& e, const Metrics& m) {
  e.family("flowbatch_attempt_errors_total", "counter", "Failed attempts, by error class.");
  for (ErrorClass c : kAllErrorClasses)
    e.sample("flowbatch_attempt_errors_total", label("class", to_string(c)),
             m.attempt_errors[static_cast<std::size_t>(c)].load());
  e.family("flowbatch_dead_lettered_items_total", "counter", "Items written to dead letters, by final error class.");
  for (ErrorClass c : kAllErrorClasses)
    e.sample("flowbatch_dead_lettered_items_total", label("class", to_string(c)),
             m.dead_by_class[static_cast<std::size_t>(c)].load());
}

void node_metrics(Exposition& e, const Metrics& m) {
  auto per_node = [&](std::string_view name, std::string_view help, auto value) {
    e.family(name, "counter", help);
    for (const NodeStats& n : m.nodes()) e.sample(name, label("node", n.name) + "," + label("kind", n.kind), value(n));
  };
  per_node("flowbatch_node_items_received_total", "Items a node received.",
           [](const NodeStats& n) { return n.received.load(); });
  per_node("flowbatch_node_items_emitted_total", "Items a node sent on, all its output ports.",
           [](const NodeStats& n) { return n.emitted.load(); });
  per_node("flowbatch_node_items_ended_total", "Items that ended at a node (sinks, dead letters).",
           [](const NodeStats& n) { return n.ended.load(); });
  e.family("flowbatch_sink_commits_total", "counter", "Commits of a sink or dead letter (data synced, state written).");
  for (const NodeStats& n : m.nodes())
    if (!n.destination.empty()) e.sample("flowbatch_sink_commits_total", label("node", n.name), n.commits.load());
  e.family("flowbatch_sink_commit_duration_seconds", "histogram", "How long a commit took, from posted to done.");
  for (const NodeStats& n : m.nodes())
    if (!n.destination.empty())
      e.histogram("flowbatch_sink_commit_duration_seconds", label("node", n.name), n.commit_latency);
}

void provider_metrics(Exposition& e, const std::vector<std::unique_ptr<ProviderLane>>& lanes) {
  e.family("flowbatch_requests_total", "counter",
           "Requests completed, by provider and HTTP status (none: no HTTP answer).");
  for (const auto& lane : lanes) {
    const ProviderStats& s = lane->stats();
    for (std::size_t status = 0; status < s.by_status.size(); ++status)
      if (const auto n = s.by_status[status].load(); n || status == 0)
        e.sample("flowbatch_requests_total",
                 label("provider", s.name) + "," + label("status", status ? std::to_string(status) : "none"), n);
  }
  e.family("flowbatch_request_errors_total", "counter", "Failed requests, by provider and error class.");
  for (const auto& lane : lanes)
    for (ErrorClass c : kAllErrorClasses)
      e.sample("flowbatch_request_errors_total",
               label("provider", lane->stats().name) + "," + label("class", to_string(c)),
               lane->stats().errors[static_cast<std::size_t>(c)].load());
  e.family("flowbatch_request_duration_seconds", "histogram", "Request latency, from start to answer, by provider.");
  for (const auto& lane : lanes)
    e.histogram("flowbatch_request_duration_seconds", label("provider", lane->stats().name), lane->stats().latency);
  e.family("flowbatch_tokens_total", "counter", "Tokens the provider's answers report, by direction.");
  for (const auto& lane : lanes) {
    const ProviderStats& s = lane->stats();
    e.sample("flowbatch_tokens_total", label("provider", s.name) + "," + label("direction", "input"),
             s.input_tokens.load());
    e.sample("flowbatch_tokens_total", label("provider", s.name) + "," + label("direction", "output"),
             s.output_tokens.load());
  }
  e.family("flowbatch_cached_input_tokens_total", "counter", "Input tokens read from the provider's prompt cache.");
  for (const auto& lane : lanes)
    e.sample("flowbatch_cached_input_tokens_total", label("provider", lane->stats().name),
             lane->stats().cached_input_tokens.load());
  e.family("flowbatch_cost_dollars_total", "counter",
           "What the provider's priced requests cost, in USD (docs/cost.md); see flowbatch_unpriced_requests_total.");
  for (const auto& lane : lanes)
    e.sample("flowbatch_cost_dollars_total", label("provider", lane->stats().name),
             to_usd(lane->stats().cost_nano.load()));
  e.family("flowbatch_cost_saved_dollars_total", "counter",
           "What the response cache, packing and prompt caching saved, in USD.");
  for (const auto& lane : lanes)
    e.sample("flowbatch_cost_saved_dollars_total", label("provider", lane->stats().name),
             to_usd(lane->stats().saved_nano.load()));
  e.family("flowbatch_unpriced_requests_total", "counter", "Answered requests of a model with no known price.");
  for (const auto& lane : lanes)
    e.sample("flowbatch_unpriced_requests_total", label("provider", lane->stats().name),
             lane->stats().unpriced_requests.load());
}

void gate_metrics(Exposition& e, const std::vector<std::unique_ptr<ProviderLane>>& lanes) {
  auto per_lane = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    e.family(name, type, help);
    for (const auto& lane : lanes) e.sample(name, label("provider", lane->stats().name), value(lane->gate()));
  };
  const auto gauge = "gauge";
  per_lane("flowbatch_provider_requests_in_flight", gauge, "Requests started and not yet answered.",
           [](const RateGate& g) { return g.in_flight(); });
  per_lane("flowbatch_provider_requests_waiting", gauge, "Requests queued at the rate gate, waiting to start.",
           [](const RateGate& g) { return g.waiting(); });
  per_lane("flowbatch_provider_concurrency_limit", gauge, "The concurrency limit now (fixed or adaptive).",
           [](const RateGate& g) { return g.concurrency_limit(); });
  per_lane("flowbatch_provider_requests_per_minute_limit", gauge,
           "The requests/min paced at now (configured, announced by the server or learnt from 429s; 0: none).",
           [](const RateGate& g) { return g.requests_per_minute(); });
  per_lane("flowbatch_provider_tokens_per_minute_limit", gauge, "The tokens/min paced at now (0: none).",
           [](const RateGate& g) { return g.tokens_per_minute(); });
  per_lane("flowbatch_provider_paused", gauge, "1 while the provider's requests are paused from the control API.",
           [](const RateGate& g) { return g.paused() ? 1 : 0; });
  per_lane("flowbatch_rate_limit_pauses_total", "counter", "Provider-wide pauses after a 429.",
           [](const RateGate& g) { return g.pauses(); });
  per_lane("flowbatch_rate_limit_paused_seconds_total", "counter", "Total length of those pauses.",
           [](const RateGate& g) { return static_cast<double>(g.paused_ms()) / 1000; });
}

void saving_metrics(Exposition& e, const Metrics& m) {
  e.family("flowbatch_cache_hits_total", "counter", "Requests (or packed items) answered from the response cache.");
  e.sample("flowbatch_cache_hits_total", "", m.cache_hits.load());
  e.family("flowbatch_cache_saved_tokens_total", "counter", "Tokens the cache's answers cost when first paid for.");
  e.sample("flowbatch_cache_saved_tokens_total", label("direction", "input"), m.cache_saved_input_tokens.load());
  e.sample("flowbatch_cache_saved_tokens_total", label("direction", "output"), m.cache_saved_output_tokens.load());
  e.family("flowbatch_packed_items_total", "counter", "Items sent in packed requests (each attempt).");
  e.sample("flowbatch_packed_items_total", "", m.packed_items.load());
  e.family("flowbatch_packed_requests_total", "counter", "Packed requests made.");
  e.sample("flowbatch_packed_requests_total", "", m.packed_requests.load());
  e.family("flowbatch_pack_resends_total", "counter", "Items a packed answer left out or garbled, sent again.");
  e.sample("flowbatch_pack_resends_total", "", m.pack_resends.load());
  e.family("flowbatch_pack_saved_input_tokens", "gauge",
           "Input tokens packing saved against one request per item (estimated; negative when it cost more).");
  e.sample("flowbatch_pack_saved_input_tokens", "", m.pack_saved_input_tokens.load());
}

void batch_metrics(Exposition& e, const Metrics& m) {
  e.family("flowbatch_batch_jobs_created_total", "counter", "Jobs of the providers' batch APIs this run created.");
  e.sample("flowbatch_batch_jobs_created_total", "", m.batch_jobs.load());
  e.family("flowbatch_batch_items_total", "counter", "Items of batch-mode calls answered, by how they went.");
  e.sample("flowbatch_batch_items_total", label("via", "batch"), m.batch_items.load());
  e.sample("flowbatch_batch_items_total", label("via", "online"), m.batch_online_items.load());
  e.family("flowbatch_batch_jobs_waiting", "gauge",
           "Batch jobs waiting for room in the provider's batch queue (parked, or refused for it), now.");
  e.sample("flowbatch_batch_jobs_waiting", "", m.batch_jobs_waiting.load());
  e.family("flowbatch_batch_jobs_parked_total", "counter",
           "Times a batch job waited for room in the provider's queue.");
  e.sample("flowbatch_batch_jobs_parked_total", "", m.batch_jobs_parked.load());
  e.family("flowbatch_batch_queue_refusals_total", "counter", "Batch jobs the provider refused for its full queue.");
  e.sample("flowbatch_batch_queue_refusals_total", "", m.batch_queue_refusals.load());
}

}  // namespace

std::string prometheus_text(const RunState& run, const std::string& pipeline,
                            const std::vector<std::unique_ptr<ProviderLane>>& lanes) {
  Exposition e(pipeline);
  run_metrics(e, run);
  lag_metrics(e, run);
  class_metrics(e, run.metrics);
  node_metrics(e, run.metrics);
  provider_metrics(e, lanes);
  gate_metrics(e, lanes);
  saving_metrics(e, run.metrics);
  batch_metrics(e, run.metrics);
  return e.take();
}

}  // namespace flowbatch
