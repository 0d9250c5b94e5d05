#pragma once
// The HTML run report (pipeline.report_html): one self-contained page — inline CSS and SVG, no
// script, nothing fetched — refreshed while the run goes and final at its end.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/graph/plan.h"
#include "engine/runtime/run_state.h"

namespace flowbatch {

class ProviderLane;

class HtmlReport {
 public:
  HtmlReport(const Plan& plan, const RunState& run, const std::vector<std::unique_ptr<ProviderLane>>& lanes);

  /// On the loop thread, every tick: samples the counters for the charts and rewrites the page
  /// when `pipeline.report_interval_ms` has passed.
  void tick();
  /// The last page, with how the run ended ("finished", "interrupted", ...).
  void finish(std::string_view status);

 private:
  struct Sample {
    double seconds = 0;
    double ok = 0, failed = 0, retries = 0, requests = 0, rate_limited = 0, pauses = 0;
    double p50_ms = 0, p95_ms = 0;
  };
  Sample take_sample() const;
  /// Writes the page to a temporary file and renames it over the report: a reader (a browser
  /// reloading it, a mail being attached) never sees half a page.
  void write(std::string_view status);
  std::string page(std::string_view status) const;
  std::string records_line(std::uint64_t done) const;
  std::string charts() const;
  std::string tables() const;
  /// Each error class's most frequent messages, with example item ids.
  std::string error_messages() const;
  std::string slowest_requests() const;

  const Plan& plan_;
  const RunState& run_;
  const std::vector<std::unique_ptr<ProviderLane>>& lanes_;
  std::vector<Sample> samples_;  // loop thread only
  std::chrono::steady_clock::time_point next_sample_{}, next_write_{};
  std::chrono::milliseconds sample_every_{1000};
};

}  // namespace flowbatch
