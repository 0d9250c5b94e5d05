#include "engine/runtime/run_control.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <future>

#include "engine/io/durable.h"
#include "engine/runtime/prometheus.h"
#include "engine/runtime/provider_lane.h"
#include "engine/runtime/report.h"

namespace flowbatch {
namespace {

ControlResponse json_answer(int status, const boost::json::object& body) {
  return {status, "application/json", boost::json::serialize(body) + "\n"};
}

ControlResponse error_answer(int status, const std::string& message) {
  return json_answer(status, {{"error", message}});
}

/// A limit from the request's JSON: absent, or a number at least `minimum`; a reason otherwise.
std::optional<double> read_limit(const boost::json::object& body, std::string_view key, double minimum,
                                 std::string& error) {
  const boost::json::value* v = body.if_contains(key);
  if (!v) return std::nullopt;
  double value = 0;
  if (v->is_int64()) value = static_cast<double>(v->get_int64());
  else if (v->is_uint64()) value = static_cast<double>(v->get_uint64());
  else if (v->is_double()) value = v->get_double();
  else {
    error = fmt::format("{} must be a number", key);
    return std::nullopt;
  }
  if (value < minimum) error = fmt::format("{} must be at least {}", key, minimum);
  return value;
}

}  // namespace

RunControl::RunControl(RunState& run, const Plan& plan, const std::vector<std::unique_ptr<ProviderLane>>& lanes,
                       std::function<void()> drain)
    : run_(run), plan_(plan), lanes_(lanes), drain_(std::move(drain)) {}

ControlResponse RunControl::handle(const ControlRequest& r) {
  if (r.method == "GET" && r.path == "/metrics")
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            run_.redactor.redact(prometheus_text(run_, plan_.pipeline.name, lanes_))};
  if (r.method == "GET" && r.path == "/status")
    return {200, "application/json", run_.redactor.redact(boost::json::serialize(status())) + "\n"};
  const bool control = r.path == "/pause" || r.path == "/resume" || r.path == "/limits" || r.path == "/drain";
  if (!control && r.path != "/metrics" && r.path != "/status")
    return error_answer(404, "no such path: GET /metrics, GET /status, POST /pause, /resume, /limits, /drain");
  if (r.method != "POST") return error_answer(405, fmt::format("{} takes POST", r.path));
  if (r.path == "/pause") pause();
  else if (r.path == "/resume") resume();
  else if (r.path == "/limits") return change_limits(r.body);
  else {
    run_.console.log(LogLevel::warn, "", "drain requested through the control API");
    drain_();
  }
  return json_answer(200, status());
}

void RunControl::pause() {
  if (run_.draining()) return;  // a drain needs the gates open to let waiting requests go
  for (const auto& lane : lanes_) lane->gate().pause();
  if (!run_.paused()) run_.console.log(LogLevel::warn, "", "paused: no new request starts until resumed");
  run_.set_paused(true);
}

void RunControl::resume() {
  for (const auto& lane : lanes_) lane->gate().resume();
  if (run_.paused()) run_.console.log(LogLevel::warn, "", "resumed");
  run_.set_paused(false);
}

ControlResponse RunControl::change_limits(const std::string& text) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(text, ec);
  if (ec || !parsed.is_object())
    return error_answer(400, R"(the body must be a JSON object: {"provider": "NAME", "requests_per_minute": 600})");
  const boost::json::object& body = parsed.get_object();
  const boost::json::value* name = body.if_contains("provider");
  ProviderLane* lane = nullptr;
  for (const auto& l : lanes_)
    if (name && name->is_string() && l->spec().name == name->get_string()) lane = l.get();
  if (!lane) return error_answer(400, "\"provider\" must name one of the graph's providers");
  for (const auto& [key, value] : body)
    if (key != "provider" && key != "requests_per_minute" && key != "tokens_per_minute" && key != "max_concurrency")
      return error_answer(400, fmt::format("unknown key {}: requests_per_minute, tokens_per_minute or max_concurrency",
                                           std::string_view(key)));
  std::string error;
  RateGate::LimitChange change;
  change.requests_per_minute = read_limit(body, "requests_per_minute", 0, error);
  change.tokens_per_minute = read_limit(body, "tokens_per_minute", 0, error);
  if (auto c = read_limit(body, "max_concurrency", 1, error)) {
    // The lane is built for at most its ceiling at once (max_concurrency_limit).
    const std::size_t ceiling = lane->spec().settings.rate.highest_concurrency();
    if (*c > static_cast<double>(ceiling))
      error =
          fmt::format("max_concurrency can go up to {} (the provider's max_concurrency_limit), not {}", ceiling, *c);
    change.concurrency = static_cast<std::size_t>(*c);
  }
  if (!error.empty()) return error_answer(400, error);
  // The answer shows the new limits: wait (briefly, on this thread, never the graph's) for the
  // loop to apply them.
  auto applied = std::make_shared<std::promise<void>>();
  lane->change_limits(change, [applied] { applied->set_value(); });
  applied->get_future().wait_for(std::chrono::seconds(2));
  return json_answer(200, status());
}

boost::json::object RunControl::status() const {
  const Metrics& m = run_.metrics;
  boost::json::array providers;
  for (const auto& lane : lanes_) {
    const RateGate& g = lane->gate();
    providers.push_back(boost::json::object{{"name", lane->spec().name},
                                            {"paused", g.paused()},
                                            {"in_flight", g.in_flight()},
                                            {"waiting", g.waiting()},
                                            {"requests", lane->stats().requests.load()},
                                            {"max_concurrency", g.concurrency_limit()},
                                            {"requests_per_minute", g.requests_per_minute()},
                                            {"tokens_per_minute", g.tokens_per_minute()}});
  }
  const char* state = run_.draining() ? "draining" : run_.paused() ? "paused" : "running";
  return boost::json::object{
      {"pipeline", plan_.pipeline.name},
      {"status", state},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - run_.started).count()},
      {"records", boost::json::object{{"expected", run_.expected_items.load()},
                                      {"ok", m.records_ok.load()},
                                      {"failed", m.records_failed.load()},
                                      {"skipped", m.records_skipped.load()}}},
      {"items", boost::json::object{{"admitted", m.admitted.load()},
                                    {"in_flight", run_.outstanding()},
                                    {"retry_waiting", m.retry_waiting.load()},
                                    {"succeeded", m.succeeded.load()},
                                    {"dead_lettered", m.dead.load()}}},
      {"requests", m.requests.load()},
      {"retries", m.retries.load()},
      {"lag", lags_json(run_.follow_lags.entries())},
      {"providers", std::move(providers)}};
}

std::filesystem::path listen_file(const Plan& plan) {
  if (plan.pipeline.state.empty()) return {};
  return plan.pipeline.state.string() + ".listen";
}

void record_listen_address(const std::filesystem::path& file, const std::string& address) {
  write_file_atomically(file, address + "\n", /*durable=*/false);
}

}  // namespace flowbatch
