#include "mock_server/conversation.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/json.hpp>

#include <algorithm>

#include "engine/core/hash.h"
#include "mock_server/options.h"
#include "nodes/calls/pack_simulation.h"

namespace flowbatch::mock {
namespace {

/// Backs `length` off to the start of a UTF-8 sequence, so a cut never splits a character.
std::size_t utf8_boundary(std::string_view text, std::size_t length) {
  while (length > 0 && length < text.size() && (static_cast<unsigned char>(text[length]) & 0xC0) == 0x80) --length;
  return length;
}

}  // namespace

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

std::optional<std::string> text_of_content(const boost::json::value& content) {
  if (const auto* text = content.if_string()) return std::string(*text);
  const auto* blocks = content.if_array();
  if (!blocks) return std::nullopt;
  std::string joined;
  for (const auto& block : *blocks) {
    const auto* object = block.if_object();
    if (!object) return std::nullopt;
    const auto* type = object->if_contains("type");
    const auto* text = object->if_contains("text");
    if (!type || !type->is_string() || type->get_string() != "text" || !text || !text->is_string()) return std::nullopt;
    joined += text->get_string();
  }
  return joined;
}

std::variant<Conversation, std::string> read_messages(const boost::json::value* messages,
                                                      const std::vector<std::string_view>& allowed_roles) {
  if (!messages) return std::string("messages is required");
  const auto* list = messages->if_array();
  if (!list || list->empty()) return std::string("messages must be a non-empty array");
  Conversation conversation;
  bool has_user = false;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto* message = (*list)[i].if_object();
    if (!message) return fmt::format("messages[{}] must be an object", i);
    const auto* role = message->if_contains("role");
    if (!role || !role->is_string()) return fmt::format("messages[{}].role must be a string", i);
    const std::string_view role_name = role->get_string();
    if (!allowed_roles.empty() &&
        std::find(allowed_roles.begin(), allowed_roles.end(), role_name) == allowed_roles.end())
      return fmt::format("messages[{}].role must be one of: {}", i, fmt::join(allowed_roles, ", "));
    const auto* content = message->if_contains("content");
    if (!content) return fmt::format("messages[{}].content is required", i);
    auto text = text_of_content(*content);
    if (!text) return fmt::format("messages[{}].content must be a string or an array of text blocks", i);
    conversation.content_chars += text->size();
    conversation.prefill.clear();
    if (role_name == "assistant" && i + 1 == list->size()) conversation.prefill = *text;
    if (role_name == "user") {
      has_user = true;
      conversation.last_user_index = i;
      conversation.last_user_text = std::move(*text);
    }
  }
  if (!has_user) return std::string("messages must include a message with role 'user'");
  if (is_blank(conversation.last_user_text))
    return fmt::format("messages[{}].content (the last user message) must not be empty", conversation.last_user_index);
  return conversation;
}

std::variant<std::optional<std::int64_t>, std::string> read_optional_integer(const boost::json::object& body,
                                                                             std::string_view key,
                                                                             std::int64_t minimum) {
  const auto* value = body.if_contains(key);
  if (!value || value->is_null()) return std::optional<std::int64_t>{};
  std::int64_t number = 0;
  if (value->is_int64()) {
    number = value->get_int64();
  } else if (value->is_uint64()) {
    number = static_cast<std::int64_t>(std::min<std::uint64_t>(value->get_uint64(), INT64_MAX));
  } else {
    return fmt::format("{} must be an integer", key);
  }
  if (number < minimum) return fmt::format("{} must be at least {}", key, minimum);
  return std::optional<std::int64_t>{number};
}

MockReply make_reply(std::string_view last_user_text, const std::vector<std::string>& replies, bool json_mode,
                     std::optional<std::int64_t> max_tokens) {
  const std::uint64_t h = stable_hash(last_user_text, 0);
  MockReply reply;
  if (json_mode) reply.text = fmt::format(R"({{"reply":"{}","chars":{}}})", hex16(h), last_user_text.size());
  else if (!replies.empty()) reply.text = replies[h % replies.size()];
  else reply.text = "mock reply " + hex16(h);
  if (max_tokens && *max_tokens < estimate_tokens(reply.text.size())) {
    const auto limit = static_cast<std::size_t>(std::min<std::int64_t>(*max_tokens, INT64_MAX / 4) * 4);
    reply.text.resize(utf8_boundary(reply.text, std::min(limit, reply.text.size())));
    reply.cut = true;
  }
  reply.tokens = estimate_tokens(reply.text.size());
  return reply;
}

std::optional<MockReply> make_packed_reply(const Conversation& conversation, const MockOptions& options,
                                           std::uint64_t request_hash, std::optional<std::int64_t> max_tokens) {
  auto answer_of = [&](std::string_view input, bool json) -> boost::json::value {
    const MockReply alone = make_reply(input, options.replies, json, std::nullopt);
    if (!json) return boost::json::string(alone.text);
    return boost::json::parse(alone.text);
  };
  auto roll = [&](std::uint64_t n) { return unit_interval(hash_combine(request_hash, 0x9ac4000ULL + n)); };
  const std::size_t max_chars =
      max_tokens ? static_cast<std::size_t>(std::min<std::int64_t>(*max_tokens, INT64_MAX / 4)) * 4 : 0;
  auto packed = pack::answer_packed(conversation.last_user_text, answer_of, options.pack_faults, roll, max_chars,
                                    conversation.prefill);
  if (!packed) return std::nullopt;
  MockReply reply;
  reply.text = std::move(packed->text);
  reply.cut = packed->cut;
  reply.tokens = estimate_tokens(reply.text.size());
  return reply;
}

}  // namespace flowbatch::mock
