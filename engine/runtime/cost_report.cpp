#include "engine/runtime/cost_report.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>
#include <boost/json/serialize.hpp>

#include <cerrno>
#include <cmath>

#include "engine/io/durable.h"

namespace flowbatch {

std::string format_usd(NanoUsd amount) {
  const double usd = to_usd(amount);
  const char* sign = usd < 0 ? "-" : "";
  const double size = std::abs(usd);
  if (size >= 100) return fmt::format("{}${:.2f}", sign, size);
  if (size >= 0.01 || size == 0) return fmt::format("{}${:.4f}", sign, size);
  // Below a cent (a cost per item): three significant digits, never "$0.0000".
  const int decimals = std::min(9, 2 + static_cast<int>(std::ceil(-std::log10(size))));
  return fmt::format("{}${:.{}f}", sign, size, decimals);
}

namespace {

NanoUsd saved_total(const Metrics& m) {
  return m.saved_cache_nano.load() + m.saved_pack_nano.load() + m.saved_prompt_cache_nano.load() +
         m.saved_batch_nano.load();
}

/// JSON null for an amount that is not known (some request had no price): never a silent 0.
boost::json::value usd_or_null(NanoUsd amount, bool known) {
  if (!known) return nullptr;
  return to_usd(amount);
}

}  // namespace

std::string cost_summary(const Metrics& m, const Budget& budget) {
  const NanoUsd cost = m.cost_nano.load();
  const std::uint64_t unpriced = m.unpriced_requests.load();
  const std::uint64_t items = m.succeeded.load() + m.dead.load();
  std::string out;
  if (cost > 0 || saved_total(m) != 0) {
    out += fmt::format("  cost {}{}", format_usd(cost), unpriced ? " for the requests with a known price" : "");
    if (items && !unpriced) out += fmt::format(" ({} per item)", format_usd(cost / static_cast<NanoUsd>(items)));
    if (m.spent_before_nano.load() > 0)
      out += fmt::format("; {} with earlier runs of this state", format_usd(budget.spent()));
    out += "\n";
    if (const NanoUsd saved = saved_total(m); saved != 0)
      out += fmt::format("  saved {} (response cache {}, packing {}, prompt caching {}, batch API {})\n",
                         format_usd(saved), format_usd(m.saved_cache_nano.load()), format_usd(m.saved_pack_nano.load()),
                         format_usd(m.saved_prompt_cache_nano.load()), format_usd(m.saved_batch_nano.load()));
  }
  if (m.batch_jobs.load() || m.batch_items.load() || m.batch_online_items.load())
    out += fmt::format(
        "  batch API: {} items answered in batch jobs ({} jobs created by this run), {} sent online; "
        "the batch discount saved {}\n",
        with_commas(m.batch_items.load()), with_commas(m.batch_jobs.load()), with_commas(m.batch_online_items.load()),
        format_usd(m.saved_batch_nano.load()));
  if (const auto parked = m.batch_jobs_parked.load(), refused = m.batch_queue_refusals.load(); parked || refused)
    out += fmt::format(
        "  batch API: jobs waited for room in the provider's batch queue {} times; the provider refused {} for it "
        "(created again later, nothing paid twice)\n",
        with_commas(parked), with_commas(refused));
  if (const auto rejoined = m.batch_rejoined_items.load())
    out += fmt::format("  batch API: {} items of earlier runs' jobs, grouped anew, rejoined the lines that hold them\n",
                       with_commas(rejoined));
  if (unpriced)
    out += fmt::format("  cost unknown for {} requests: their model has no known price (set [providers.NAME.prices])\n",
                       with_commas(unpriced));
  if (const auto cached = m.cached_input_tokens.load(); cached && m.input_tokens.load())
    out += fmt::format("  prompt cache: {} of {} input tokens read from the provider's cache ({:.1f}%)\n",
                       with_commas(cached), with_commas(m.input_tokens.load()),
                       100.0 * static_cast<double>(cached) / static_cast<double>(m.input_tokens.load()));
  if (budget.capped())
    out += fmt::format("  cost cap {}: {} spent\n", format_usd(budget.limits().cap), format_usd(budget.spent()));
  return out;
}

std::string cost_progress(const Metrics& m, const Budget& budget) {
  if (budget.capped())
    return fmt::format("  cost {} of {}", format_usd(budget.spent()), format_usd(budget.limits().cap));
  if (m.cost_nano.load() > 0) return fmt::format("  cost {}", format_usd(m.cost_nano.load()));
  return {};
}

boost::json::object run_summary_json(const RunState& run, const std::string& job_name, RunStatus status,
                                     int exit_code) {
  const Metrics& m = run.metrics;
  const bool priced = m.unpriced_requests.load() == 0;
  boost::json::object providers;
  for (const ProviderStats& p : m.providers()) {
    const bool known = p.unpriced_requests.load() == 0;
    providers[p.name] = boost::json::object{
        {"requests", p.requests.load()},
        {"items", p.items.load()},
        {"tokens_in", p.input_tokens.load()},
        {"tokens_out", p.output_tokens.load()},
        {"tokens_in_cached", p.cached_input_tokens.load()},
        {"cost_usd", usd_or_null(p.cost_nano.load(), known)},
        {"cost_saved_usd", to_usd(p.saved_nano.load())},
        {"unpriced_requests", p.unpriced_requests.load()},
    };
  }
  boost::json::object dead_classes;
  for (ErrorClass c : kAllErrorClasses)
    if (const auto n = m.dead_by_class[static_cast<std::size_t>(c)].load()) dead_classes[to_string(c)] = n;
  const auto unfinished = m.abandoned.load() + static_cast<std::uint64_t>(std::max<std::int64_t>(0, run.outstanding()));
  const Budget& budget = run.budget;
  return boost::json::object{
      {"summary_version", kSummaryVersion},
      {"pipeline", job_name},
      {"status", to_string(status)},
      {"exit_code", exit_code},
      {"wall_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - run.started).count()},
      {"items", m.admitted.load()},
      {"ok", m.succeeded.load()},
      {"dead_lettered", m.dead.load()},
      {"skipped", m.skipped.load()},
      {"unfinished", unfinished},
      {"requests", m.requests.load()},
      {"retries", m.retries.load()},
      {"cache_hits", m.cache_hits.load()},
      {"tokens_in", m.input_tokens.load()},
      {"tokens_out", m.output_tokens.load()},
      {"tokens_in_cached", m.cached_input_tokens.load()},
      {"cost_usd", usd_or_null(m.cost_nano.load(), priced)},
      {"cost_priced_usd", to_usd(m.cost_nano.load())},
      {"unpriced_requests", m.unpriced_requests.load()},
      {"cost_saved_usd", to_usd(saved_total(m))},
      {"cost_saved", boost::json::object{{"response_cache_usd", to_usd(m.saved_cache_nano.load())},
                                         {"packing_usd", to_usd(m.saved_pack_nano.load())},
                                         {"prompt_cache_usd", to_usd(m.saved_prompt_cache_nano.load())},
                                         {"batch_api_usd", to_usd(m.saved_batch_nano.load())}}},
      {"batch", boost::json::object{{"jobs", m.batch_jobs.load()},
                                    {"items", m.batch_items.load()},
                                    {"online_items", m.batch_online_items.load()},
                                    {"rejoined_items", m.batch_rejoined_items.load()},
                                    {"jobs_parked", m.batch_jobs_parked.load()},
                                    {"queue_refusals", m.batch_queue_refusals.load()}}},
      {"cost_total_usd", usd_or_null(budget.spent(), priced)},
      {"cost_cap_usd", budget.capped() ? boost::json::value(to_usd(budget.limits().cap)) : boost::json::value(nullptr)},
      {"providers", std::move(providers)},
      {"dead_letter_classes", std::move(dead_classes)},
  };
}

void write_summary_json(const std::filesystem::path& path, const boost::json::object& summary) {
  write_file_atomically(path, boost::json::serialize(summary) + "\n", /*durable=*/true);
}

}  // namespace flowbatch
