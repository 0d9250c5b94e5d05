#include "engine/runtime/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "engine/runtime/cost_report.h"
#include "engine/runtime/exit_codes.h"
#include "engine/runtime/provider_lane.h"

namespace flowbatch {

std::string_view to_string(RunStatus status) {
  switch (status) {
    case RunStatus::finished: return "finished";
    case RunStatus::interrupted: return "interrupted";
    case RunStatus::stopped: return "stopped";
    case RunStatus::failed: return "failed";
  }
  return "unknown";
}

RunStatus run_status(const RunState& run) {
  if (run.failed()) return RunStatus::failed;
  if (run.stopped_resumable()) return RunStatus::stopped;
  if (run.draining() || run.outstanding() != 0) return RunStatus::interrupted;
  return RunStatus::finished;
}

int exit_code(RunStatus status, bool dead_letters_hold_items) {
  switch (status) {
    case RunStatus::failed: return kExitFatal;
    case RunStatus::stopped: return kExitResumable;
    case RunStatus::interrupted: return kExitInterrupted;
    case RunStatus::finished: return dead_letters_hold_items ? kExitDeadLetters : kExitOk;
  }
  return kExitFatal;
}

std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string short_duration(std::chrono::seconds s) {
  const auto total = s.count();
  if (total < 60) return fmt::format("{}s", total);
  if (total < 3600) return fmt::format("{}:{:02}", total / 60, total % 60);
  return fmt::format("{}:{:02}:{:02}", total / 3600, (total / 60) % 60, total % 60);
}

namespace {

/// Input records done: every item made from each has ended (a fan-out or a split makes several
/// items of one record, so items are not what a user counts).
std::uint64_t records_done(const Metrics& m) {
  return m.records_ok.load() + m.records_failed.load() + m.records_skipped.load();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string classes_line(const std::array<std::atomic<std::uint64_t>, Metrics::kClasses>& counts) {
  std::vector<std::pair<std::uint64_t, std::string_view>> parts;
  for (ErrorClass c : kAllErrorClasses) {
    const auto n = counts[static_cast<std::size_t>(c)].load();
    if (n) parts.emplace_back(n, to_string(c));
  }
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  for (const auto& [n, name] : parts) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", name, with_commas(n));
  return out;
}

}  // namespace

ProgressReporter::ProgressReporter(const RunState& run, Console& console, bool live,
                                   std::chrono::milliseconds plain_interval)
    : run_(run),
      console_(console),
      live_(live),
      interval_(live ? std::chrono::milliseconds(250) : plain_interval),
      next_(std::chrono::steady_clock::now() + interval_) {}

std::string ProgressReporter::line() const {
  const Metrics& m = run_.metrics;
  const std::uint64_t done = records_done(m);
  // A followed input has no end: no total to count towards.
  const std::uint64_t total = run_.following_sources.load() > 0 ? 0 : std::max(run_.expected_items.load(), done);
  const double elapsed = std::max(seconds_since(run_.started), 1e-3);
  // Records a previous run completed are skipped in no time: they would make the rate a lie.
  const double rate = static_cast<double>(done - m.records_skipped.load()) / elapsed;
  std::string progress = total ? fmt::format("{}/{} ({:.1f}%)", with_commas(done), with_commas(total),
                                             100.0 * static_cast<double>(done) / static_cast<double>(total))
                               : with_commas(done);
  return fmt::format("{}{} items  {:.0f} items/s  {}  ok {}  retrying {}  failed {}{}", run_.paused() ? "PAUSED  " : "",
                     progress, rate, time_left(done, total, rate),
                     with_commas(m.records_ok.load() + m.records_skipped.load()),
                     with_commas(static_cast<std::uint64_t>(std::max<std::int64_t>(0, m.retry_waiting.load()))),
                     with_commas(m.records_failed.load()), cost_progress(m, run_.budget));
}

/// "ETA 2m", or for a run following its input (it has no end): how far behind it the run is.
std::string ProgressReporter::time_left(std::uint64_t done, std::uint64_t total, double rate) const {
  if (run_.following_sources.load() > 0) {
    const std::string lag = describe_lags(run_.follow_lags.entries());
    return lag.empty() ? "following" : "following, lag " + lag;
  }
  if (total && rate > 0 && done < total)
    return "ETA " + short_duration(std::chrono::seconds(std::lround(static_cast<double>(total - done) / rate)));
  return total && done >= total ? "ETA 0s" : "ETA --";
}

void ProgressReporter::update() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_) return;
  next_ = now + interval_;
  if (live_) {
    console_.status(line());
  } else if (console_.format() == LogFormat::json) {  // the numbers as fields, for dashboards built on logs
    const Metrics& m = run_.metrics;
    const std::vector<FollowLags::Entry> lags = run_.follow_lags.entries();
    std::uint64_t lag_bytes = 0;  // the field before lags had units, kept for the dashboards built on it
    for (const auto& [source, lag] : lags)
      if (lag.unit == "bytes") lag_bytes += lag.count;
    console_.log(LogLevel::info, "", "progress: " + line(),
                 {{"done", records_done(m)},
                  {"expected", run_.expected_items.load()},
                  {"ok", m.records_ok.load() + m.records_skipped.load()},
                  {"failed", m.records_failed.load()},
                  {"retrying", std::max<std::int64_t>(0, m.retry_waiting.load())},
                  {"in_flight", run_.outstanding()},
                  {"lag_bytes", lag_bytes},
                  {"lag", lags_json(lags)},
                  {"paused", run_.paused()},
                  {"cost_usd", static_cast<double>(run_.budget.spent()) / 1e9}});
  } else {
    console_.print("progress: " + line() + "\n");
  }
}

std::string run_summary(const RunState& run, const std::string& job_name, RunStatus status) {
  const Metrics& m = run.metrics;
  const double elapsed = seconds_since(run.started);
  const std::uint64_t done = records_done(m);
  const bool interrupted = status != RunStatus::finished;
  std::string out = fmt::format("{}: {} in {:.2f} s, {} items ({:.0f} items/s)\n", job_name, to_string(status), elapsed,
                                with_commas(done), static_cast<double>(done) / std::max(elapsed, 1e-3));
  for (const NodeStats& s : m.nodes()) {
    if (s.destination.empty()) continue;
    out +=
        fmt::format("  {:<12} {:<20} {:>10} items  {}\n", s.kind, s.name, with_commas(s.ended.load()), s.destination);
  }
  out += fmt::format("  peak in flight {} items (max_in_flight bounds it)\n",
                     with_commas(static_cast<std::uint64_t>(m.peak_outstanding.load())));
  if (m.skipped.load())
    out += fmt::format("  skipped {} items a previous run completed{}\n", with_commas(m.skipped.load()),
                       m.changed.load() ? fmt::format(" ({} of them changed since; their earlier results are kept)",
                                                      with_commas(m.changed.load()))
                                        : "");
  if (m.duplicate_ids.load())
    out += fmt::format(
        "  duplicate ids: {} records share an id with an earlier record of their source (each is processed; "
        "their results share the id)\n",
        with_commas(m.duplicate_ids.load()));
  if (m.already_replayed.load())
    out += fmt::format("  skipped {} records an earlier replay already sent through the graph (not sent again)\n",
                       with_commas(m.already_replayed.load()));
  if (m.cache_hits.load())
    out += fmt::format("  answered {} requests (or packed items) from the cache, saving {} tokens in, {} out\n",
                       with_commas(m.cache_hits.load()), with_commas(m.cache_saved_input_tokens.load()),
                       with_commas(m.cache_saved_output_tokens.load()));
  if (m.packed_requests.load()) {
    const std::int64_t saved = m.pack_saved_input_tokens.load();
    out += fmt::format(
        "  packed {} items into {} requests ({:.1f} a request, {} sent again); packing {} about {} input "
        "tokens against one request per item\n",
        with_commas(m.packed_items.load()), with_commas(m.packed_requests.load()),
        static_cast<double>(m.packed_items.load()) / static_cast<double>(m.packed_requests.load()),
        with_commas(m.pack_resends.load()), saved >= 0 ? "saved" : "cost",
        with_commas(static_cast<std::uint64_t>(saved >= 0 ? saved : -saved)));
  }
  if (m.discarded.load())
    out += fmt::format("  discarded {} items (outputs connected to nothing)\n", with_commas(m.discarded.load()));
  if (m.abandoned.load() || interrupted) {
    const auto unfinished =
        m.abandoned.load() + static_cast<std::uint64_t>(std::max<std::int64_t>(0, run.outstanding()));
    out += fmt::format("  unfinished {} items (stopped before they ended)\n", with_commas(unfinished));
  }
  if (const std::string dead = classes_line(m.dead_by_class); !dead.empty())
    out += "  dead-lettered by class: " + dead + "\n";
  if (const std::string attempts = classes_line(m.attempt_errors); !attempts.empty())
    out += "  failed attempts by class: " + attempts + "\n";
  if (m.requests.load()) {
    out +=
        fmt::format("  requests {} ({} retries), latency p50 {:.0f} ms, p95 {:.0f} ms, p99 {:.0f} ms\n",
                    with_commas(m.requests.load()), with_commas(m.retries.load()), m.request_latency.percentile_ms(0.5),
                    m.request_latency.percentile_ms(0.95), m.request_latency.percentile_ms(0.99));
    if (m.input_tokens.load() || m.output_tokens.load())
      out += fmt::format("  tokens in {}, out {}\n", with_commas(m.input_tokens.load()),
                         with_commas(m.output_tokens.load()));
  }
  return out + cost_summary(m, run.budget);
}

namespace {
boost::json::object classes_json(const std::array<std::atomic<std::uint64_t>, Metrics::kClasses>& counts) {
  boost::json::object out;
  for (ErrorClass c : kAllErrorClasses)
    if (const auto n = counts[static_cast<std::size_t>(c)].load()) out[to_string(c)] = n;
  return out;
}
}  // namespace

boost::json::object run_report_json(const RunState& run, const std::string& job_name, RunStatus status) {
  const Metrics& m = run.metrics;
  boost::json::array nodes;
  for (const NodeStats& s : m.nodes()) {
    boost::json::object n{{"name", s.name},
                          {"kind", s.kind},
                          {"received", s.received.load()},
                          {"emitted", s.emitted.load()},
                          {"ended", s.ended.load()}};
    if (!s.destination.empty()) n["destination"] = s.destination;
    nodes.push_back(std::move(n));
  }
  const auto unfinished = m.abandoned.load() + static_cast<std::uint64_t>(std::max<std::int64_t>(0, run.outstanding()));
  return boost::json::object{
      {"name", job_name},
      {"status", to_string(status)},
      {"seconds", seconds_since(run.started)},
      {"records", boost::json::object{{"ok", m.records_ok.load()},
                                      {"failed", m.records_failed.load()},
                                      {"skipped", m.records_skipped.load()},
                                      {"duplicate_ids", m.duplicate_ids.load()},
                                      {"expected", run.expected_items.load()}}},
      {"items", boost::json::object{{"admitted", m.admitted.load()},
                                    {"succeeded", m.succeeded.load()},
                                    {"dead_lettered", m.dead.load()},
                                    {"discarded", m.discarded.load()},
                                    {"unfinished", unfinished},
                                    {"skipped", m.skipped.load()},
                                    {"cache_hits", m.cache_hits.load()},
                                    {"peak_in_flight", m.peak_outstanding.load()}}},
      {"nodes", std::move(nodes)},
      {"errors", boost::json::object{{"attempts", classes_json(m.attempt_errors)},
                                     {"dead_lettered", classes_json(m.dead_by_class)}}},
      {"requests",
       boost::json::object{{"count", m.requests.load()},
                           {"retries", m.retries.load()},
                           {"latency_ms", boost::json::object{{"p50", m.request_latency.percentile_ms(0.5)},
                                                              {"p95", m.request_latency.percentile_ms(0.95)},
                                                              {"p99", m.request_latency.percentile_ms(0.99)}}}}},
      {"tokens", boost::json::object{{"input", m.input_tokens.load()},
                                     {"output", m.output_tokens.load()},
                                     {"cache_saved_input", m.cache_saved_input_tokens.load()},
                                     {"cache_saved_output", m.cache_saved_output_tokens.load()},
                                     {"pack_saved_input", m.pack_saved_input_tokens.load()}}},
      {"packing", boost::json::object{{"items", m.packed_items.load()},
                                      {"requests", m.packed_requests.load()},
                                      {"sent_again", m.pack_resends.load()}}},
  };
}

namespace {

/// What each provider's gate did: pauses after 429s, the concurrency and rate it settled on.
std::string provider_summary(const std::vector<std::unique_ptr<ProviderLane>>& lanes) {
  std::string out;
  for (const auto& lane : lanes) {
    const RateGate& g = lane->gate();
    const RateSettings& s = lane->spec().settings.rate;
    std::string line;
    if (g.pauses())
      line += fmt::format(", {} pauses for rate limits ({:.1f} s)", g.pauses(),
                          static_cast<double>(g.paused_ms()) / 1000.0);
    if (s.adaptive) line += fmt::format(", adaptive concurrency ended at {}", g.concurrency_limit());
    if (g.requests_per_minute() > 0 && g.requests_per_minute() != s.requests_per_minute)
      line += fmt::format(", requests/min settled at {:.0f}", g.requests_per_minute());
    if (!line.empty()) out += "  provider " + lane->spec().name + ": " + line.substr(2) + "\n";
  }
  return out;
}

}  // namespace

RunReport make_run_report(const RunState& run, const std::string& job_name,
                          const std::vector<std::unique_ptr<ProviderLane>>& lanes) {
  RunReport r;
  r.status = run_status(run);
  r.resumable_reason = run.resumable_reason();
  r.fatal_error = run.fatal_error();
  const Metrics& m = run.metrics;
  r.succeeded = m.succeeded.load();
  r.dead = m.dead.load();
  r.discarded = m.discarded.load();
  r.abandoned = m.abandoned.load() + static_cast<std::uint64_t>(std::max<std::int64_t>(0, run.outstanding()));
  r.requests = m.requests.load();
  r.retries = m.retries.load();
  r.peak_in_flight = m.peak_outstanding.load();
  r.response_cache_used = run.response_cache_opened();
  r.summary = run_summary(run, job_name, r.status) + provider_summary(lanes);
  r.exit_code = exit_code(r.status, m.dead_held.load() > 0);
  r.json = run_report_json(run, job_name, r.status);
  r.json["exit_code"] = r.exit_code;
  if (!r.fatal_error.empty()) r.json["error"] = r.fatal_error;
  r.summary_json = run_summary_json(run, job_name, r.status, r.exit_code);
  if (m.item_costs.enabled()) r.item_costs = m.item_costs.entries();
  r.records_done = m.records_ok.load() + m.records_failed.load();
  return r;
}

}  // namespace flowbatch
