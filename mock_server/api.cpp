#include "mock_server/api.h"

#include <fmt/format.h>
#include <boost/json.hpp>

#include "engine/core/hash.h"
#include "mock_server/batch_routes.h"

namespace flowbatch::mock {
namespace {

constexpr std::string_view kBearer = "Bearer ";

ApiReply uncounted_json(std::string body) {
  ApiReply reply;
  reply.body = std::move(body);
  reply.counted = false;
  return reply;
}

/// What the server received, as JSON: for tests of what a client really sends.
ApiReply echo(const ApiRequest& request) {
  boost::json::array headers;
  for (const auto& [name, value] : request.headers) headers.push_back(boost::json::array{name, value});
  ApiReply reply;
  reply.body = boost::json::serialize(boost::json::object{
      {"method", request.method}, {"target", request.target}, {"headers", std::move(headers)}, {"body", request.body}});
  reply.request_hash = stable_hash(request.body, stable_hash(request.target, 0));
  return reply;
}

}  // namespace

MockApi::MockApi(MockOptions options)
    : options_(std::move(options)),
      dice_(options_.seed),
      fault_plan_(options_.faults),
      latency_(options_.latency_ms, options_.latency_sigma),
      limiter_(options_.requests_per_minute, options_.tokens_per_minute, options_.burst_seconds,
               options_.rolling_window_seconds) {}

const MockApi::Route* MockApi::find_route(const ApiRequest& request) {
  static constexpr Route kRoutes[] = {
      {"/v1/chat/completions", ApiFlavor::openai, &prepare_openai_chat},
      {"/v1/embeddings", ApiFlavor::openai, &prepare_openai_embeddings},
      {"/v1/messages", ApiFlavor::anthropic, &prepare_anthropic_messages},
  };
  if (request.method != "POST") return nullptr;
  for (const auto& route : kRoutes)
    if (route.path == request.path) return &route;
  return nullptr;
}

ApiReply MockApi::handle(const ApiRequest& request) {
  if (request.path == "/stats" && request.method == "GET") return uncounted_json(stats_.to_json());
  if (request.path == "/stats/reset" && request.method == "POST") {
    stats_.reset();
    return uncounted_json(R"({"reset":true})");
  }

  const auto now = SteadyClock::now();
  if (request.path == "/echo" || request.path.starts_with("/echo/")) {
    stats_.on_arrival("/echo", now);
    return echo(request);
  }
  if (const auto flavor = batch_route_flavor(request.path)) {
    // The batch endpoints meet no simulated faults or rate limits: their lines do (batch_store).
    stats_.on_arrival(request.path.starts_with("/v1/files") ? "/v1/files" : "batches", now);
    if (auto denied = check_api_key(*flavor, request)) return std::move(*denied);
    // Done at once, answered after the simulated latency: a client that dies meanwhile has made
    // the file or the batch without hearing of it (what a crash-safe client must cope with).
    ApiReply reply = handle_batch_route(batches_, request, options_);
    const std::uint64_t sequence = next_sequence_.fetch_add(1, std::memory_order_relaxed);
    reply.delay = latency_.sample(dice_.roll(sequence, Dice::Purpose::latency_u1),
                                  dice_.roll(sequence, Dice::Purpose::latency_u2));
    return reply;
  }
  const Route* route = find_route(request);
  if (!route) {
    stats_.on_arrival("other", now);
    return openai_error(404, fmt::format("Unknown request URL: {} {}.", request.method, request.path),
                        "invalid_request_error", "unknown_url");
  }

  stats_.on_arrival(route->path, now);
  const std::uint64_t sequence = next_sequence_.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t request_hash = hash_combine(stable_hash(route->path, options_.seed), sequence);
  ApiReply reply = answer(*route, request, sequence, request_hash, now);
  if (reply.is_answer) reply.request_hash = stable_hash(request.body, stable_hash(route->path, 0));
  reply.delay =
      latency_.sample(dice_.roll(sequence, Dice::Purpose::latency_u1), dice_.roll(sequence, Dice::Purpose::latency_u2));
  if (options_.capacity > 0) {  // processor sharing: past the capacity, everyone is slower
    const double load = static_cast<double>(stats_.in_flight()) / static_cast<double>(options_.capacity);
    if (load > 1.0) reply.delay = std::chrono::duration_cast<std::chrono::milliseconds>(reply.delay * load);
  }
  if (reply.action == ReplyAction::respond || reply.action == ReplyAction::trickle)
    reply.headers.emplace_back(route->flavor == ApiFlavor::openai ? "x-request-id" : "request-id",
                               "req_" + hex16(hash_combine(request_hash, 0x1d)));
  return reply;
}

ApiReply MockApi::answer(const Route& route, const ApiRequest& request, std::uint64_t sequence,
                         std::uint64_t request_hash, SteadyClock::time_point now) {
  // Faults come first: they stand for trouble in front of the API (load balancers, networks),
  // and they consume no rate-limit budget. A trickle is the real answer, sent slowly.
  std::optional<ApiReply> faulted = fault_reply(route.flavor, sequence);
  if (faulted && faulted->action == ReplyAction::trickle) {
    ApiReply reply = answer_unfaulted(route, request, request_hash, now);
    reply.action = ReplyAction::trickle;
    return reply;
  }
  if (faulted) {
    if (faulted->action == ReplyAction::respond) add_rate_headers(route.flavor, limiter_.peek(now), *faulted);
    return std::move(*faulted);
  }
  return answer_unfaulted(route, request, request_hash, now);
}

ApiReply MockApi::answer_unfaulted(const Route& route, const ApiRequest& request, std::uint64_t request_hash,
                                   SteadyClock::time_point now) {
  if (auto denied = check_api_key(route.flavor, request)) {
    add_rate_headers(route.flavor, limiter_.peek(now), *denied);
    return std::move(*denied);
  }

  RouteOutcome outcome = route.prepare(request, RouteContext{options_, request_hash, prompt_cache_});
  if (auto* error = std::get_if<ApiReply>(&outcome)) {
    add_rate_headers(route.flavor, limiter_.peek(now), *error);
    return std::move(*error);
  }
  auto& prepared = std::get<PreparedAnswer>(outcome);
  const RateDecision decision = limiter_.admit(prepared.rate_cost_tokens, now);
  if (!decision.allowed) {
    stats_.on_rate_limited();
    ApiReply refused = rate_limited(route.flavor, decision);
    add_rate_headers(route.flavor, decision, refused);
    return refused;
  }
  stats_.add_tokens(prepared.usage_tokens);
  ApiReply reply;
  reply.body = std::move(prepared.body);
  add_rate_headers(route.flavor, decision, reply);
  return reply;
}

std::optional<ApiReply> MockApi::fault_reply(ApiFlavor flavor, std::uint64_t sequence) {
  const Fault fault = fault_plan_.decide(dice_.roll(sequence, Dice::Purpose::fault));
  if (fault == Fault::none) return std::nullopt;
  stats_.on_fault(fault);
  ApiReply reply;
  switch (fault) {
    case Fault::none: break;
    case Fault::server_error: reply = server_error(flavor, dice_.roll(sequence, Dice::Purpose::fault_detail)); break;
    case Fault::reset: reply.action = ReplyAction::reset_connection; break;
    case Fault::malformed:
      reply = malformed_success(flavor);
      reply.is_answer = false;  // a retry of it is not a request answered twice
      break;
    case Fault::truncated:  // the real answer's start, cut on the wire: not an answer either
      reply.action = ReplyAction::truncate;
      reply.is_answer = false;
      break;
    case Fault::hang: reply.action = ReplyAction::hang; break;
    case Fault::quota: reply = insufficient_quota(flavor); break;
    case Fault::trickle: reply.action = ReplyAction::trickle; break;
  }
  return reply;
}

std::optional<ApiReply> MockApi::check_api_key(ApiFlavor flavor, const ApiRequest& request) const {
  if (options_.api_key.empty()) return std::nullopt;
  if (flavor == ApiFlavor::anthropic) {
    const auto sent = request.header("x-api-key");
    if (sent && *sent == options_.api_key) return std::nullopt;
    return unauthorized(flavor, sent);
  }
  const auto authorization = request.header("authorization");
  if (!authorization) return unauthorized(flavor, std::nullopt);
  std::string_view sent = *authorization;
  if (sent.size() >= kBearer.size() && iequals(sent.substr(0, kBearer.size()), kBearer))
    sent.remove_prefix(kBearer.size());
  if (sent == options_.api_key) return std::nullopt;
  return unauthorized(flavor, sent);
}

void MockApi::add_rate_headers(ApiFlavor flavor, const RateDecision& decision, ApiReply& reply) const {
  if (flavor == ApiFlavor::openai) add_openai_rate_headers(decision, reply.headers);
  else add_anthropic_rate_headers(decision, std::chrono::system_clock::now(), reply.headers);
}

}  // namespace flowbatch::mock
