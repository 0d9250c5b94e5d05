// POST /v1/chat/completions and POST /v1/embeddings, validated like OpenAI validates them.
#include <fmt/format.h>
#include <boost/json.hpp>

#include <ctime>

#include "engine/core/hash.h"
#include "mock_server/conversation.h"
#include "mock_server/error_replies.h"
#include "mock_server/routes.h"

namespace flowbatch::mock {
namespace {

ApiReply invalid_openai(std::string_view message, std::optional<std::string_view> param = std::nullopt) {
  return invalid_request(ApiFlavor::openai, message, param);
}

/// True for JSON mode; the problem when response_format is not a known format.
std::variant<bool, std::string> read_json_mode(const boost::json::object& body) {
  const auto* format = body.if_contains("response_format");
  if (!format || format->is_null()) return false;
  const auto* object = format->if_object();
  const auto* type = object ? object->if_contains("type") : nullptr;
  if (!type || !type->is_string()) return std::string("response_format.type must be a string");
  const std::string_view name = type->get_string();
  if (name == "text") return false;
  if (name == "json_object" || name == "json_schema") return true;
  return fmt::format("response_format.type must be one of text, json_object, json_schema (got '{}')", name);
}

}  // namespace

std::variant<boost::json::object, std::string> parse_json_object(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(body, ec);
  if (ec) return fmt::format("We could not parse the JSON body of your request: {}.", ec.message());
  if (!parsed.is_object()) return std::string("The request body must be a JSON object.");
  return std::move(parsed.get_object());
}

std::string prompt_too_long_message(std::size_t chars, std::int64_t max_chars) {
  return fmt::format("the prompt is {} characters; the maximum is {}", chars, max_chars);
}

RouteOutcome prepare_openai_chat(const ApiRequest& request, const RouteContext& context) {
  auto parsed = parse_json_object(request.body);
  if (auto* problem = std::get_if<std::string>(&parsed)) return invalid_openai(*problem);
  const auto& body = std::get<boost::json::object>(parsed);

  const auto* model = body.if_contains("model");
  if (!model || !model->is_string()) return invalid_openai("you must provide a model parameter (a string)", "model");

  auto messages = read_messages(body.if_contains("messages"), {});
  if (auto* problem = std::get_if<std::string>(&messages)) return invalid_openai(*problem, "messages");
  const auto& conversation = std::get<Conversation>(messages);
  if (static_cast<std::int64_t>(conversation.content_chars) > context.options.max_prompt_chars)
    return openai_error(400, prompt_too_long_message(conversation.content_chars, context.options.max_prompt_chars),
                        "invalid_request_error", "context_length_exceeded", "messages");

  // max_completion_tokens is the newer name; either one limits the reply.
  std::optional<std::int64_t> max_tokens;
  for (std::string_view key : {"max_tokens", "max_completion_tokens"}) {
    auto value = read_optional_integer(body, key, 1);
    if (auto* problem = std::get_if<std::string>(&value)) return invalid_openai(*problem, key);
    if (auto given = std::get<std::optional<std::int64_t>>(value)) max_tokens = given;
  }
  auto json_mode = read_json_mode(body);
  if (auto* problem = std::get_if<std::string>(&json_mode)) return invalid_openai(*problem, "response_format");

  std::optional<MockReply> packed = make_packed_reply(conversation, context.options, context.request_hash, max_tokens);
  const MockReply reply =
      packed ? std::move(*packed)
             : make_reply(conversation.last_user_text, context.options.replies, std::get<bool>(json_mode), max_tokens);
  const std::int64_t prompt_tokens = estimate_tokens(conversation.content_chars);
  const boost::json::object answer{
      {"id", "chatcmpl-" + hex16(context.request_hash)},
      {"object", "chat.completion"},
      {"created", static_cast<std::int64_t>(std::time(nullptr))},
      {"model", model->get_string()},
      {"choices", boost::json::array{{{"index", 0},
                                      {"message", {{"role", "assistant"}, {"content", reply.text}}},
                                      {"finish_reason", reply.cut ? "length" : "stop"}}}},
      {"usage",
       {{"prompt_tokens", prompt_tokens},
        {"completion_tokens", reply.tokens},
        {"total_tokens", prompt_tokens + reply.tokens},
        {"prompt_tokens_details",
         {{"cached_tokens", std::min(prompt_tokens, context.prompt_cache.openai(body).read)}}}}},
  };
  PreparedAnswer prepared;
  prepared.rate_cost_tokens = prompt_tokens + max_tokens.value_or(16);
  prepared.usage_tokens = prompt_tokens + reply.tokens;
  prepared.body = boost::json::serialize(answer);
  return prepared;
}

RouteOutcome prepare_openai_embeddings(const ApiRequest& request, const RouteContext& context) {
  auto parsed = parse_json_object(request.body);
  if (auto* problem = std::get_if<std::string>(&parsed)) return invalid_openai(*problem);
  const auto& body = std::get<boost::json::object>(parsed);

  const auto* model = body.if_contains("model");
  if (!model || !model->is_string()) return invalid_openai("you must provide a model parameter (a string)", "model");

  std::vector<std::string_view> inputs;
  const auto* input = body.if_contains("input");
  if (input && input->is_string()) {
    inputs.push_back(input->get_string());
  } else if (input && input->is_array() && !input->get_array().empty()) {
    for (const auto& element : input->get_array()) {
      if (!element.is_string()) return invalid_openai("input must be a string or an array of strings", "input");
      inputs.push_back(element.get_string());
    }
  } else {
    return invalid_openai("input must be a string or a non-empty array of strings", "input");
  }
  std::size_t chars = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (is_blank(inputs[i])) return invalid_openai(fmt::format("input[{}] must not be empty", i), "input");
    chars += inputs[i].size();
  }
  if (static_cast<std::int64_t>(chars) > context.options.max_prompt_chars)
    return openai_error(400, prompt_too_long_message(chars, context.options.max_prompt_chars), "invalid_request_error",
                        "context_length_exceeded", "input");

  constexpr int kDimensions = 8;
  boost::json::array data;
  data.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::uint64_t h = stable_hash(inputs[i], 0);
    boost::json::array embedding;
    embedding.reserve(kDimensions);
    for (int d = 0; d < kDimensions; ++d)
      embedding.emplace_back(unit_interval(hash_combine(h, static_cast<std::uint64_t>(d))) * 2.0 - 1.0);
    data.push_back(boost::json::object{{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  const std::int64_t prompt_tokens = estimate_tokens(chars);
  const boost::json::object answer{
      {"object", "list"},
      {"data", std::move(data)},
      {"model", model->get_string()},
      {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}},
  };
  PreparedAnswer prepared;
  prepared.rate_cost_tokens = prompt_tokens;
  prepared.usage_tokens = prompt_tokens;
  prepared.body = boost::json::serialize(answer);
  return prepared;
}

}  // namespace flowbatch::mock
