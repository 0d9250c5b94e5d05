// POST /v1/messages, validated like Anthropic's Messages API validates it.
#include <fmt/format.h>
#include <boost/json.hpp>

#include "engine/core/hash.h"
#include "mock_server/conversation.h"
#include "mock_server/error_replies.h"
#include "mock_server/routes.h"

namespace flowbatch::mock {
namespace {

ApiReply invalid_anthropic(std::string_view message) { return invalid_request(ApiFlavor::anthropic, message); }

}  // namespace

RouteOutcome prepare_anthropic_messages(const ApiRequest& request, const RouteContext& context) {
  if (!request.header("anthropic-version")) return invalid_anthropic("anthropic-version: header is required");

  auto parsed = parse_json_object(request.body);
  if (auto* problem = std::get_if<std::string>(&parsed)) return invalid_anthropic(*problem);
  const auto& body = std::get<boost::json::object>(parsed);

  const auto* model = body.if_contains("model");
  if (!model || !model->is_string()) return invalid_anthropic("model: field required (a string)");

  auto max_tokens = read_optional_integer(body, "max_tokens", 1);
  if (auto* problem = std::get_if<std::string>(&max_tokens)) return invalid_anthropic(*problem);
  const auto limit = std::get<std::optional<std::int64_t>>(max_tokens);
  if (!limit) return invalid_anthropic("max_tokens: field required");

  std::size_t system_chars = 0;
  if (const auto* system = body.if_contains("system"); system && !system->is_null()) {
    const auto text = text_of_content(*system);
    if (!text) return invalid_anthropic("system: must be a string or an array of text blocks");
    system_chars = text->size();
  }

  auto messages = read_messages(body.if_contains("messages"), {"user", "assistant"});
  if (auto* problem = std::get_if<std::string>(&messages)) return invalid_anthropic(*problem);
  const auto& conversation = std::get<Conversation>(messages);
  const std::size_t prompt_chars = conversation.content_chars + system_chars;
  if (static_cast<std::int64_t>(prompt_chars) > context.options.max_prompt_chars)
    return invalid_anthropic(prompt_too_long_message(prompt_chars, context.options.max_prompt_chars));

  std::optional<MockReply> packed = make_packed_reply(conversation, context.options, context.request_hash, limit);
  const MockReply reply =
      packed ? std::move(*packed) : make_reply(conversation.last_user_text, context.options.replies, false, limit);
  const std::int64_t input_tokens = estimate_tokens(prompt_chars);
  // Anthropic reports the cached part of the prompt apart from input_tokens.
  const PromptCacheUse cached = context.prompt_cache.anthropic(body);
  const std::int64_t uncached = std::max<std::int64_t>(0, input_tokens - cached.read - cached.written);
  const boost::json::object answer{
      {"id", "msg_" + hex16(context.request_hash)},
      {"type", "message"},
      {"role", "assistant"},
      {"model", model->get_string()},
      {"content", boost::json::array{{{"type", "text"}, {"text", reply.text}}}},
      {"stop_reason", reply.cut ? "max_tokens" : "end_turn"},
      {"stop_sequence", nullptr},
      {"usage",
       {{"input_tokens", uncached},
        {"cache_read_input_tokens", cached.read},
        {"cache_creation_input_tokens", cached.written},
        {"output_tokens", reply.tokens}}},
  };
  PreparedAnswer prepared;
  prepared.rate_cost_tokens = input_tokens + *limit;
  prepared.usage_tokens = input_tokens + reply.tokens;
  prepared.body = boost::json::serialize(answer);
  return prepared;
}

}  // namespace flowbatch::mock
