#pragma once
// What the chat routes of both APIs share: reading a list of messages, and the deterministic reply.
// The reply depends only on the last user message (not on --seed), so a test or a benchmark can
// predict it: "mock reply " + hex16(stable_hash(text)).
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace flowbatch::mock {

/// About four characters a token, rounded up (what providers' rough estimates use).
constexpr std::int64_t estimate_tokens(std::size_t chars) { return static_cast<std::int64_t>((chars + 3) / 4); }

struct Conversation {
  std::size_t content_chars = 0;  ///< every message's content, added up
  std::string last_user_text;
  std::size_t last_user_index = 0;
  std::string prefill;  ///< the content of a last message by the assistant: the answer continues it
};

/// `messages` must be a non-empty array of {role, content} with at least one "user" message;
/// content is a string or an array of {"type":"text","text":...} blocks. `allowed_roles` empty:
/// any role. Returns the problem, naming the offending field, when it is not.
std::variant<Conversation, std::string> read_messages(const boost::json::value* messages,
                                                      const std::vector<std::string_view>& allowed_roles);

/// A string, or the concatenated text of an array of text blocks; nullopt for anything else.
std::optional<std::string> text_of_content(const boost::json::value& content);

/// An optional integer field that must be at least `minimum` when present.
std::variant<std::optional<std::int64_t>, std::string> read_optional_integer(const boost::json::object& body,
                                                                             std::string_view key,
                                                                             std::int64_t minimum);

bool is_blank(std::string_view text);

struct MockReply {
  std::string text;
  bool cut = false;  ///< shortened to max_tokens
  std::int64_t tokens = 0;
};

/// The reply to `last_user_text`: "mock reply <hex16>" (or one of `replies`), or in JSON mode
/// {"reply":"<hex16>","chars":N}; cut to max_tokens * 4 characters when it is longer.
MockReply make_reply(std::string_view last_user_text, const std::vector<std::string>& replies, bool json_mode,
                     std::optional<std::int64_t> max_tokens);

struct MockOptions;

/// The reply to a packed prompt (the flowbatch packing contract), each item answered as
/// make_reply answers that input alone, with --pack-*-rate faults rolled from `request_hash`;
/// nothing when the last user message is not a packed prompt.
std::optional<MockReply> make_packed_reply(const Conversation& conversation, const MockOptions& options,
                                           std::uint64_t request_hash, std::optional<std::int64_t> max_tokens);

}  // namespace flowbatch::mock
