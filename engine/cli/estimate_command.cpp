#include "engine/cli/estimate_command.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <filesystem>

#include "engine/core/console.h"
#include "engine/core/redactor.h"
#include "engine/graph/compiler.h"
#include "engine/runtime/cost_report.h"
#include "engine/runtime/exit_codes.h"
#include "engine/runtime/report.h"
#include "engine/runtime/runner.h"

namespace flowbatch {
namespace {

/// A folder for the trial run's outputs, removed when done.
class ScratchFolder {
 public:
  ScratchFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "flowbatch-estimate-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary folder for the estimate");
    path_ = pattern;
  }
  ~ScratchFolder() {
    std::error_code ignored;  // a leftover temporary folder is not worth failing the estimate for
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Spread {
  double mean = 0, sd = 0, p10 = 0, p90 = 0;
};

Spread spread_of(std::vector<double> values) {
  Spread s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.sd = values.size() > 1 ? std::sqrt(squares / static_cast<double>(values.size() - 1)) : 0;
  auto at = [&](double q) {
    return values[static_cast<std::size_t>(std::lround(q * static_cast<double>(values.size() - 1)))];
  };
  s.p10 = at(0.1);
  s.p90 = at(0.9);
  return s;
}

/// The whole job's wall time at the providers' configured limits, from the sample's requests.
double wall_seconds(const Plan& plan, const boost::json::object& summary, double scale, double latency_s) {
  double wall = 0;
  const auto& providers = summary.at("providers").as_object();
  for (const PlanProvider& p : plan.providers) {
    const auto* counts = providers.if_contains(p.name);
    if (!counts) continue;
    const double requests = counts->at("requests").to_number<double>() * scale;
    const double tokens =
        (counts->at("tokens_in").to_number<double>() + counts->at("tokens_out").to_number<double>()) * scale;
    const RateSettings& r = p.settings.rate;
    double t = requests * latency_s / static_cast<double>(std::max<std::size_t>(1, r.concurrency_limit));
    if (r.requests_per_minute > 0) t = std::max(t, requests / r.requests_per_minute * 60);
    if (r.tokens_per_minute > 0) t = std::max(t, tokens / r.tokens_per_minute * 60);
    wall = std::max(wall, t);
  }
  return wall;
}

/// The compiled graph with every output moved into `scratch`, and the total of its sources' records.
struct Trial {
  std::optional<Plan> plan;
  std::uint64_t records = 0;
};

Trial compile_trial(TypeRegistry& registry, Redactor& redactor, const EstimateCommand& command,
                    const std::filesystem::path& scratch) {
  CompileOptions options;
  options.overrides = command.overrides;
  options.overrides.push_back("pipeline.progress=off");
  options.outputs_under = scratch;
  CompileResult result = compile_file(command.graph, registry, redactor, options);
  if (!result.diagnostics.items().empty()) std::fputs(redactor.redact(result.diagnostics.str()).c_str(), stderr);
  Trial trial;
  if (!result.plan) return trial;
  for (const PlanNode& node : result.plan->nodes) {
    if (!node.config || node.kind->table != "sources") continue;
    const auto n = node.config->count_records();
    if (!n) {
      std::fprintf(stderr, "flowbatch estimate: source %s cannot count its records without reading them as items\n",
                   node.name.c_str());
      return trial;
    }
    trial.records += *n;
  }
  trial.plan = std::move(result.plan);
  return trial;
}

/// What the sample cost and used: totals and the spread over its items.
struct Sample {
  std::uint64_t records = 0;  ///< records of the sample that ended
  std::size_t items = 0;      ///< items that ended (a record may make several)
  bool priced = true;         ///< every item's cost is known
  double cost = 0, tokens_in = 0, tokens_out = 0;
  Spread item_cost;            ///< USD per item
  bool reused_by_run = false;  ///< calls kept its answers in the response cache: the run does not pay them again
};

Sample read_sample(const RunReport& report) {
  Sample sample;
  sample.records = report.records_done;
  sample.items = report.item_costs.size();
  sample.reused_by_run = report.response_cache_used;
  std::vector<double> costs;
  for (const auto& e : report.item_costs) {
    if (e.cost_nano < 0) sample.priced = false;
    const double usd = to_usd(std::max<NanoUsd>(0, e.cost_nano));
    costs.push_back(usd);
    sample.cost += usd;
    sample.tokens_in += static_cast<double>(e.input_tokens);
    sample.tokens_out += static_cast<double>(e.output_tokens);
  }
  sample.item_cost = spread_of(std::move(costs));
  return sample;
}

/// The whole job, scaled up from the sample.
struct Estimate {
  std::uint64_t records = 0;
  double scale = 0;  ///< records / sampled records
  double tokens_in = 0, tokens_out = 0, requests = 0;
  double cost = 0, cost_low = 0, cost_high = 0, cost_batch = 0;
  double wall_s = 0;
};

Estimate scale_up(const Plan& plan, const RunReport& report, const Sample& sample, std::uint64_t records) {
  Estimate e;
  e.records = records;
  e.scale = static_cast<double>(records) / static_cast<double>(std::max<std::uint64_t>(1, sample.records));
  const auto& s = report.summary_json;
  e.tokens_in = sample.tokens_in * e.scale;
  e.tokens_out = sample.tokens_out * e.scale;
  e.requests = s.at("requests").to_number<double>() * e.scale;
  e.cost = sample.cost * e.scale;
  // A 90% interval of the total: the mean per item ± 1.645 standard errors, for every item.
  const double items = static_cast<double>(sample.items) * e.scale;
  const double margin =
      sample.items > 1 ? 1.645 * sample.item_cost.sd / std::sqrt(static_cast<double>(sample.items)) : 0;
  e.cost_low = std::max(0.0, (sample.item_cost.mean - margin) * items);
  e.cost_high = (sample.item_cost.mean + margin) * items;
  e.cost_batch = e.cost * 0.5;  // both OpenAI's Batch API and Anthropic's Message Batches take half off
  const double latency_s = report.json.at("requests").at("latency_ms").at("p50").to_number<double>() / 1000.0;
  e.wall_s = wall_seconds(plan, s, e.scale, latency_s);
  return e;
}

boost::json::object estimate_json(const Plan& plan, const Sample& sample, const Estimate& e, bool no_calls) {
  auto usd = [&](double v) { return sample.priced ? boost::json::value(v) : boost::json::value(nullptr); };
  return boost::json::object{
      {"pipeline", plan.pipeline.name},
      {"records", e.records},
      {"sample_records", sample.records},
      {"no_calls", no_calls},
      {"per_record",
       boost::json::object{
           {"tokens_in", sample.tokens_in / static_cast<double>(std::max<std::uint64_t>(1, sample.records))},
           {"tokens_out", sample.tokens_out / static_cast<double>(std::max<std::uint64_t>(1, sample.records))},
           {"cost_usd", usd(sample.cost / static_cast<double>(std::max<std::uint64_t>(1, sample.records)))},
           {"cost_usd_p10", usd(sample.item_cost.p10)},
           {"cost_usd_p90", usd(sample.item_cost.p90)}}},
      {"tokens_in", e.tokens_in},
      {"tokens_out", no_calls ? boost::json::value(nullptr) : boost::json::value(e.tokens_out)},
      {"requests", e.requests},
      {"cost_usd", usd(e.cost)},
      {"cost_usd_low", usd(e.cost_low)},
      {"cost_usd_high", usd(e.cost_high)},
      {"cost_usd_batch", usd(e.cost_batch)},
      {"wall_s", e.wall_s},
      // What the sample itself cost, and whether the run reuses its answers (calls with cache = true) or
      // pays for them again.
      {"sample_cost_usd", usd(no_calls ? 0.0 : sample.cost)},
      {"sample_reused_by_run", !no_calls && sample.reused_by_run},
  };
}

std::string estimate_text(const Plan& plan, const Sample& sample, const Estimate& e, bool no_calls) {
  const double per_record = sample.cost / static_cast<double>(std::max<std::uint64_t>(1, sample.records));
  auto usd = [&](double v) { return sample.priced ? format_usd(from_usd(v)) : std::string("unknown"); };
  std::string out =
      fmt::format("{}: {} records; estimated from {} of them{}\n", plan.pipeline.name, with_commas(e.records),
                  with_commas(sample.records), no_calls ? ", without calling (prompts only)" : "");
  out += fmt::format(
      "  per record  {:.0f} tokens in{}, cost {} (10th-90th percentile {} - {})\n",
      sample.tokens_in / static_cast<double>(std::max<std::uint64_t>(1, sample.records)),
      no_calls ? ""
               : fmt::format(", {:.0f} out",
                             sample.tokens_out / static_cast<double>(std::max<std::uint64_t>(1, sample.records))),
      usd(per_record), usd(sample.item_cost.p10), usd(sample.item_cost.p90));
  out +=
      fmt::format("  whole job   {} tokens in{}, {} requests\n", with_commas(static_cast<std::uint64_t>(e.tokens_in)),
                  no_calls ? "" : fmt::format(", {} out", with_commas(static_cast<std::uint64_t>(e.tokens_out))),
                  with_commas(static_cast<std::uint64_t>(e.requests)));
  out += fmt::format("  cost        {} (90% interval {} - {}){}; with a Batch API (half price): {}\n", usd(e.cost),
                     usd(e.cost_low), usd(e.cost_high), no_calls ? ", input only" : "", usd(e.cost_batch));
  if (!sample.priced) out += "  some model has no known price: set [providers.NAME.prices] (docs/cost.md)\n";
  out += fmt::format("  wall time   about {} at the configured limits{}\n",
                     short_duration(std::chrono::seconds(std::lround(e.wall_s))),
                     no_calls ? " (latency not measured)" : "");
  if (no_calls) return out;
  if (sample.reused_by_run)
    out +=
        "  calls with cache = true kept the sample's answers (pipeline.cache): the run will not pay for them again\n";
  else
    out += fmt::format(
        "  no call has cache = true: the run pays for the sample's answers again ({}); with cache = "
        "true it would reuse them\n",
        usd(sample.cost));
  return out;
}

}  // namespace

CLI::App* add_estimate_command(CLI::App& app, EstimateCommand& c) {
  c.app =
      app.add_subcommand("estimate", "what the whole job will cost and take, from a random sample of it sent for real");
  c.app->add_option("graph", c.graph, "the pipeline's TOML file")->required()->type_name("GRAPH");
  c.app->add_option("--set", c.overrides, "override a key: --set calls.c.model=gpt-4o-mini (repeatable)")
      ->allow_extra_args(false)
      ->type_name("KEY=VALUE");
  c.app->add_option("--sample", c.sample, "about how many records to send")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000))
      ->type_name("N");
  c.app->add_option("--seed", c.seed, "which records are picked")->capture_default_str()->type_name("N");
  c.app->add_flag("--json", c.json, "print the estimate as JSON");
  c.app->add_flag("--no-calls", c.no_calls,
                  "send nothing: count the prompts' tokens from their text (output tokens are not known then)");
  return c.app;
}

int run_estimate_command(TypeRegistry& registry, const EstimateCommand& command) {
  Redactor redactor;
  ScratchFolder scratch;
  Trial trial = compile_trial(registry, redactor, command, scratch.path());
  if (!trial.plan) return kExitConfig;
  const Plan& plan = *trial.plan;
  if (trial.records == 0) {
    std::fprintf(stderr, "flowbatch estimate: the sources hold no records\n");
    return kExitConfig;
  }
  RunOptions options;
  options.use_state = false;  // a trial: nothing is done for the real run but the cache it fills
  options.sample_rate = std::min(1.0, static_cast<double>(command.sample) / static_cast<double>(trial.records));
  options.sample_seed = command.seed;
  options.dry_calls = command.no_calls;
  options.log_item_costs = true;
  Console console(redactor);
  console.set_level(LogLevel::warn);
  const RunReport report = run_plan(plan, console, redactor, options);
  if (report.status != RunStatus::finished) {
    console.print(report.summary);
    if (!report.resumable_reason.empty()) console.log(LogLevel::error, "", "stopped: " + report.resumable_reason);
    if (!report.fatal_error.empty()) console.log(LogLevel::error, "", report.fatal_error);
    return report.exit_code;
  }
  const Sample sample = read_sample(report);
  if (sample.records == 0) {
    std::fprintf(stderr, "flowbatch estimate: no record of the sample was done; try a larger --sample\n");
    return kExitFatal;
  }
  const Estimate estimate = scale_up(plan, report, sample, trial.records);
  if (command.json)
    std::printf("%s\n", boost::json::serialize(estimate_json(plan, sample, estimate, command.no_calls)).c_str());
  else std::fputs(estimate_text(plan, sample, estimate, command.no_calls).c_str(), stdout);
  return kExitOk;
}

}  // namespace flowbatch
