#include "engine/runtime/report_html.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "engine/core/text.h"
#include "engine/io/durable.h"
#include "engine/runtime/provider_lane.h"
#include "engine/runtime/report.h"
#include "engine/runtime/report_svg.h"

namespace flowbatch {
namespace {

constexpr std::size_t kMaxSamples = 720;   // then every other one goes, and sampling slows down by half
constexpr std::size_t kMessagesShown = 5;  // per error class

constexpr std::string_view kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde}
.meta{color:#556} table{border-collapse:collapse;margin:6px 0} td,th{padding:3px 10px;border-bottom:1px solid #eef;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums} figure{margin:8px 0;display:inline-block}
svg text{font:11px system-ui,sans-serif;fill:#334} svg .title{font-size:13px;font-weight:600}
.axis{stroke:#99a;stroke-width:1} .series{fill:none;stroke-width:2}
.graph rect{fill:#f4f6fb;stroke:#7a86a8} .graph .name{font-weight:600;font-size:12px} .graph .kind{fill:#778}
.graph .sink rect,.graph .dead_letter rect{fill:#eef8ee} .edge{fill:none;stroke:#667;stroke-width:1.4}
.edge.back{stroke-dasharray:4 3} .port{fill:#a33} .status{display:inline-block;padding:1px 8px;border-radius:9px;background:#eef}
)";

double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string row(std::string_view name, const std::string& value) {
  return fmt::format("<tr><td>{}</td><td class=\"n\">{}</td></tr>", html_escape(name), html_escape(value));
}

/// `values` as per-second rates between samples (the first is 0).
std::vector<double> per_second(const std::vector<double>& seconds, const std::vector<double>& values) {
  std::vector<double> rates(values.size(), 0);
  for (std::size_t i = 1; i < values.size(); ++i)
    rates[i] = std::max(0.0, values[i] - values[i - 1]) / std::max(seconds[i] - seconds[i - 1], 1e-3);
  return rates;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &utc);
  return text;
}

}  // namespace

HtmlReport::HtmlReport(const Plan& plan, const RunState& run, const std::vector<std::unique_ptr<ProviderLane>>& lanes)
    : plan_(plan),
      run_(run),
      lanes_(lanes),
      // Five samples per page at least, one a second at most (a long run is halved as it grows).
      sample_every_(std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(plan.pipeline.report_interval / 5),
                               std::chrono::milliseconds(100), std::chrono::milliseconds(1000))) {}

void HtmlReport::tick() {
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_sample_) {
    next_sample_ = now + sample_every_;
    samples_.push_back(take_sample());
    if (samples_.size() > kMaxSamples) {  // a long run: keep its whole span at half the detail
      std::vector<Sample> kept;
      for (std::size_t i = 0; i < samples_.size(); i += 2) kept.push_back(samples_[i]);
      samples_ = std::move(kept);
      sample_every_ *= 2;
    }
  }
  if (now < next_write_) return;
  next_write_ = now + plan_.pipeline.report_interval;
  write("running");
}

void HtmlReport::finish(std::string_view status) {
  samples_.push_back(take_sample());
  write(status);
}

HtmlReport::Sample HtmlReport::take_sample() const {
  const Metrics& m = run_.metrics;
  Sample s;
  s.seconds = seconds_between(run_.started, std::chrono::steady_clock::now());
  s.ok = static_cast<double>(m.records_ok.load());
  s.failed = static_cast<double>(m.records_failed.load());
  s.retries = static_cast<double>(m.retries.load());
  // Rate-limited attempts, 429s or an in-process provider's simulated ones alike.
  s.rate_limited = static_cast<double>(m.attempt_errors[static_cast<std::size_t>(ErrorClass::rate_limit)].load());
  s.requests = static_cast<double>(m.requests.load());
  for (const auto& lane : lanes_) {
    s.pauses += static_cast<double>(lane->gate().pauses());
  }
  s.p50_ms = m.request_latency.percentile_ms(0.5);
  s.p95_ms = m.request_latency.percentile_ms(0.95);
  return s;
}

void HtmlReport::write(std::string_view status) {
  const std::filesystem::path& file = plan_.pipeline.report_html;
  try {
    write_file_atomically(file, run_.redactor.redact(page(status)), /*durable=*/false);
  } catch (const std::exception& e) {  // a report is for people: it never stops a run
    run_.console.log(LogLevel::warn, "", fmt::format("cannot write the report {}: {}", file.string(), e.what()));
  }
}

/// "1,210 of 2,002 records", or for a run following its input (no total): "1,210 records (following,
/// lag 56 rows (4 claimed))".
std::string HtmlReport::records_line(std::uint64_t done) const {
  if (run_.following_sources.load() == 0)
    return fmt::format("{} of {} records", with_commas(done), with_commas(run_.expected_items.load()));
  const std::string lag = describe_lags(run_.follow_lags.entries());
  return fmt::format("{} records (following{})", with_commas(done), lag.empty() ? "" : ", lag " + html_escape(lag));
}

std::string HtmlReport::page(std::string_view status) const {
  const Metrics& m = run_.metrics;
  const std::uint64_t done = m.records_ok.load() + m.records_failed.load() + m.records_skipped.load();
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name} — flowbatch run report</title>"
      "<style>{style}</style></head><body>\n<h1>{name}</h1><p class=\"meta\"><span class=\"status\">{status}</span> "
      "after {secs:.1f} s · {records} · written {when}</p>\n",
      fmt::arg("name", html_escape(plan_.pipeline.name)), fmt::arg("style", kStyle), fmt::arg("status", status),
      fmt::arg("secs", seconds_between(run_.started, std::chrono::steady_clock::now())),
      fmt::arg("records", records_line(done)), fmt::arg("when", utc_now()));
  out += "<h2>Graph</h2>\n" + svg_graph(plan_, m.nodes());
  out += "<h2>Over time</h2>\n" + charts();
  out += tables();
  return out + "</body></html>\n";
}

std::string HtmlReport::charts() const {
  std::vector<double> t, ok, failed, retries, requests, limited, pauses, p50, p95;
  for (const Sample& s : samples_) {
    t.push_back(s.seconds);
    ok.push_back(s.ok);
    failed.push_back(s.failed);
    retries.push_back(s.retries);
    requests.push_back(s.requests);
    limited.push_back(s.rate_limited);
    pauses.push_back(s.pauses);
    p50.push_back(s.p50_ms);
    p95.push_back(s.p95_ms);
  }
  return svg_line_chart("Records done", "records", t,
                        {{"ok", "#2a8a3e", ok}, {"failed", "#c0392b", failed}, {"retries", "#d68910", retries}}) +
         svg_line_chart("Requests per second", "req/s", t, {{"requests", "#2e5fa8", per_second(t, requests)}}) +
         svg_line_chart("Latency so far (ms)", "ms", t, {{"p50", "#2e5fa8", p50}, {"p95", "#8e44ad", p95}}) +
         svg_line_chart("Rate limits", "", t,
                        {{"rate-limited attempts", "#c0392b", limited}, {"provider pauses", "#d68910", pauses}});
}

std::string HtmlReport::error_messages() const {
  std::string rows;
  for (ErrorClass c : kAllErrorClasses) {
    FailureSamples::Message rest;
    for (const auto& m : run_.metrics.failure_samples.top(c, kMessagesShown, rest))
      rows += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                          to_string(c), html_escape(m.text), with_commas(m.attempts), with_commas(m.dead),
                          html_escape(join(m.example_ids, ", ")));
    if (rest.attempts + rest.dead > 0)
      rows += fmt::format(
          "<tr><td>{}</td><td><i>other messages</i></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
          to_string(c), with_commas(rest.attempts), with_commas(rest.dead), html_escape(join(rest.example_ids, ", ")));
  }
  if (rows.empty()) return "";
  return "<h3>Top messages</h3><table id=\"error-messages\"><tr><th>class</th><th>message</th><th>failed attempts</th>"
         "<th>dead-lettered</th><th>example ids</th></tr>" +
         rows + "</table>\n";
}

std::string HtmlReport::slowest_requests() const {
  const auto slowest = run_.metrics.slowest.entries();
  if (slowest.empty()) return "";
  std::string out =
      "<h2>Slowest requests</h2><table id=\"slowest\"><tr><th>latency ms</th><th>item</th><th>call</th>"
      "<th>attempt</th></tr>";
  for (const auto& e : slowest)
    out +=
        fmt::format("<tr><td class=\"n\">{:.0f}</td><td>{}{}</td><td>{}</td><td class=\"n\">{}</td></tr>", e.latency_ms,
                    html_escape(e.first_id), e.items > 1 ? fmt::format(" (+{} in the request)", e.items - 1) : "",
                    html_escape(e.node), e.attempt);
  return out + "</table>\n";
}

std::string HtmlReport::tables() const {
  const Metrics& m = run_.metrics;
  std::string out = "<h2>Errors</h2><table><tr><th>class</th><th>failed attempts</th><th>dead-lettered</th></tr>";
  for (ErrorClass c : kAllErrorClasses) {
    const auto i = static_cast<std::size_t>(c);
    if (m.attempt_errors[i].load() || m.dead_by_class[i].load())
      out += fmt::format("<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>", to_string(c),
                         with_commas(m.attempt_errors[i].load()), with_commas(m.dead_by_class[i].load()));
  }
  out += "</table>\n" + error_messages() + "<h2>Tokens, cache and packing</h2><table>";
  out += row("tokens in", with_commas(m.input_tokens.load())) + row("tokens out", with_commas(m.output_tokens.load()));
  out += row("cache hits", with_commas(m.cache_hits.load())) +
         row("tokens the cache saved",
             with_commas(m.cache_saved_input_tokens.load() + m.cache_saved_output_tokens.load()));
  out += row("packed items / requests", fmt::format("{} / {}", m.packed_items.load(), m.packed_requests.load())) +
         row("input tokens packing saved", fmt::format("{}", m.pack_saved_input_tokens.load()));
  // Cost in dollars belongs to the cost work (issue 12): a row joins here once Metrics holds it.
  out +=
      "</table>\n<h2>Providers</h2><table><tr><th>provider</th><th>requests</th><th>p50 ms</th><th>p95 ms</th>"
      "<th>429s</th><th>pauses</th><th>concurrency</th><th>requests/min</th></tr>";
  for (const auto& lane : lanes_) {
    const ProviderStats& s = lane->stats();
    const RateGate& g = lane->gate();
    out += fmt::format(
        "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0f}</td><td class=\"n\">{:.0f}</td>"
        "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0f}</td></tr>",
        html_escape(s.name), with_commas(s.requests.load()), s.latency.percentile_ms(0.5),
        s.latency.percentile_ms(0.95), s.by_status[429].load(), g.pauses(), g.concurrency_limit(),
        g.requests_per_minute());
  }
  out += "</table>\n" + slowest_requests() + "<h2>Settings</h2><table>";
  const PipelineOptions& p = plan_.pipeline;
  out += row("graph", plan_.graph_file.filename().string()) + row("max_in_flight", std::to_string(p.max_in_flight)) +
         row("threads", p.threads ? std::to_string(p.threads) : "one per core");
  for (const PlanProvider& pr : plan_.providers) {
    const RateSettings& r = pr.settings.rate;
    out += row(fmt::format("providers.{} ({})", pr.name, pr.type),
               fmt::format("max_concurrency {}{}, requests_per_minute {:.0f}, tokens_per_minute {:.0f}",
                           r.adaptive ? "adaptive up to " : "", r.concurrency_limit, r.requests_per_minute,
                           r.tokens_per_minute));
  }
  return out + "</table>\n";
}

}  // namespace flowbatch
