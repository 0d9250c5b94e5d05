#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowbatch {

/// Edit distance (insertions, deletions, substitutions and adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b);

/// Words longer than this are never matched (see closest_match).
inline constexpr std::size_t kMaxSuggestedLength = 64;

/// The candidate closest to `word`, when it is close enough to be a likely typo. Nothing for a
/// word or candidate longer than kMaxSuggestedLength: that is no typo of a key or a name.
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);

/// " (did you mean \"x\"?)" or "" — ready to append to a message.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

/// Whether `name` may name a node or a pipeline: letters, digits, '_' and '-' only (no '.', read
/// as a port; no '/', since names become file names).
bool is_valid_name(std::string_view name);

std::string join(const std::vector<std::string>& parts, std::string_view separator);

/// Splits on `separator`, keeping empty parts.
std::vector<std::string> split(std::string_view text, char separator);

/// Leading and trailing ASCII white space removed.
std::string_view trim(std::string_view text);

/// `text` trimmed, and without the ```json ... ``` fence models often wrap JSON in.
std::string_view strip_code_fence(std::string_view text);

/// The UTF-8 byte order mark some editors put at the start of a file.
inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

/// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF),
/// as JSON requires of everything flowbatch writes.
bool is_valid_utf8(std::string_view text);
/// `text` with each ill-formed byte sequence replaced by U+FFFD, for text from outside (server
/// messages, answers) that must go into JSON; unchanged when it is valid.
std::string to_valid_utf8(std::string_view text);

/// Standard base64 (RFC 4648, with padding): bytes that are not text, kept losslessly in JSON.
std::string base64_encode(std::string_view bytes);
/// The bytes back, or nothing when `text` is not base64.
std::optional<std::string> base64_decode(std::string_view text);

/// Now in UTC, ISO 8601: "2026-11-30T11:20:03Z", or with milliseconds "2026-11-30T11:20:03.125Z".
std::string utc_now_text(bool milliseconds = false);

/// "30d" → seconds; also h, m, s. Nothing when it is not a positive whole number and a unit.
std::optional<std::int64_t> parse_age(const std::string& text);

}  // namespace flowbatch
