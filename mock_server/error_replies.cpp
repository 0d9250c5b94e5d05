#include "mock_server/error_replies.h"

#include <fmt/format.h>
#include <boost/json.hpp>

namespace flowbatch::mock {
namespace {

boost::json::value optional_string(std::optional<std::string_view> text) {
  if (!text) return nullptr;
  return boost::json::string(*text);
}

}  // namespace

ApiReply openai_error(unsigned status, std::string_view message, std::string_view type,
                      std::optional<std::string_view> code, std::optional<std::string_view> param) {
  const boost::json::object body{
      {"error",
       {{"message", message}, {"type", type}, {"param", optional_string(param)}, {"code", optional_string(code)}}}};
  ApiReply reply;
  reply.status = status;
  reply.body = boost::json::serialize(body);
  return reply;
}

ApiReply anthropic_error(unsigned status, std::string_view type, std::string_view message) {
  const boost::json::object body{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
  ApiReply reply;
  reply.status = status;
  reply.body = boost::json::serialize(body);
  return reply;
}

ApiReply invalid_request(ApiFlavor flavor, std::string_view message, std::optional<std::string_view> param) {
  if (flavor == ApiFlavor::anthropic) return anthropic_error(400, "invalid_request_error", message);
  return openai_error(400, message, "invalid_request_error", std::nullopt, param);
}

ApiReply unauthorized(ApiFlavor flavor, std::optional<std::string_view> sent_key) {
  if (flavor == ApiFlavor::anthropic) return anthropic_error(401, "authentication_error", "invalid x-api-key");
  if (!sent_key)
    return openai_error(401,
                        "You didn't provide an API key. You need to provide your API key in an Authorization "
                        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                        "invalid_request_error", "invalid_api_key");
  return openai_error(401, fmt::format("Incorrect API key provided: {}.", *sent_key), "invalid_request_error",
                      "invalid_api_key");
}

ApiReply rate_limited(ApiFlavor flavor, const RateDecision& decision) {
  const bool requests = decision.exceeded == "requests";
  const std::string_view unit = requests ? "requests per min (RPM)" : "tokens per min (TPM)";
  ApiReply reply;
  if (flavor == ApiFlavor::anthropic) {
    reply = anthropic_error(429, "rate_limit_error",
                            fmt::format("This request would exceed the rate limit for your organization of {} {}. "
                                        "Please try again in {}.",
                                        decision.limit_per_minute, unit, format_go_duration(decision.retry_after)));
  } else {
    reply = openai_error(
        429,
        fmt::format("Rate limit reached for {}: Limit {}, Requested {}. Please try again in {}.", unit,
                    decision.limit_per_minute, decision.requested, format_go_duration(decision.retry_after)),
        decision.exceeded, "rate_limit_exceeded");
  }
  add_retry_after_headers(decision.retry_after, reply.headers);
  return reply;
}

ApiReply server_error(ApiFlavor flavor, double roll) {
  if (flavor == ApiFlavor::anthropic && roll < 0.5) return anthropic_error(529, "overloaded_error", "Overloaded");
  // The remaining part of [0, 1) is split evenly between the three statuses.
  const double rest = flavor == ApiFlavor::anthropic ? (roll - 0.5) * 2.0 : roll;
  const unsigned status = rest < 1.0 / 3 ? 500 : rest < 2.0 / 3 ? 502 : 503;
  const std::string_view message = status == 500
                                       ? "The server had an error while processing your request. Sorry about that!"
                                   : status == 502 ? "Bad gateway."
                                                   : "The engine is currently overloaded, please try again later.";
  if (flavor == ApiFlavor::anthropic) return anthropic_error(status, "api_error", message);
  return openai_error(status, message, "server_error");
}

ApiReply insufficient_quota(ApiFlavor flavor) {
  if (flavor == ApiFlavor::anthropic)
    return anthropic_error(400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API.");
  return openai_error(429, "You exceeded your current quota, please check your plan and billing details.",
                      "insufficient_quota", "insufficient_quota");
}

ApiReply malformed_success(ApiFlavor flavor) {
  ApiReply reply;
  reply.body =
      flavor == ApiFlavor::anthropic
          ? R"({"id":"msg_truncated","type":"message","role":"assistant","content":[{"type":"text","text":"mock re)"
          : R"({"id":"chatcmpl-truncated","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"mock re)";
  return reply;
}

}  // namespace flowbatch::mock
