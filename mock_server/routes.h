#pragma once
// The API routes: each validates its request and prepares the success body. The dispatcher
// (api.cpp) then applies the rate limits, which need the request's token count, and sends either
// the prepared body or a 429.
#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <variant>

#include "mock_server/api_types.h"
#include "mock_server/options.h"
#include "mock_server/prompt_cache.h"

namespace flowbatch::mock {

struct RouteContext {
  const MockOptions& options;
  std::uint64_t request_hash;  ///< unique per request: names the answer (chatcmpl-..., msg_...)
  PromptCache& prompt_cache;   ///< the server's simulated prompt caches
};

/// A valid request's answer, sent unless the rate limiter refuses it.
struct PreparedAnswer {
  std::int64_t rate_cost_tokens = 0;  ///< what the tokens-per-minute bucket is charged
  std::int64_t usage_tokens = 0;      ///< prompt + completion tokens reported in the body
  std::string body;
};

/// The prepared answer, or the error reply of a request that does not validate.
using RouteOutcome = std::variant<PreparedAnswer, ApiReply>;

RouteOutcome prepare_openai_chat(const ApiRequest& request, const RouteContext& context);
RouteOutcome prepare_openai_embeddings(const ApiRequest& request, const RouteContext& context);
RouteOutcome prepare_anthropic_messages(const ApiRequest& request, const RouteContext& context);

/// The request body as a JSON object, or why it is not one.
std::variant<boost::json::object, std::string> parse_json_object(std::string_view body);

/// The message both APIs give for a prompt over --max-prompt-chars.
std::string prompt_too_long_message(std::size_t chars, std::int64_t max_chars);

}  // namespace flowbatch::mock
