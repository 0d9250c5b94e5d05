#pragma once
// What every HTTP provider needs, the built-in ones (openai, anthropic, http) and a plugin's alike:
// how a status code maps to an error class, how servers say "wait", where APIs put their error
// message, what to make of a 2xx answer that is not what the API promises. Implemented in the
// flowbatch program (nodes/providers/http_common.cpp), which a plugin is loaded into.
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flowbatch/options.h"
#include "flowbatch/provider.h"

namespace flowbatch {

/// The error class of a non-2xx status: 429 rate_limit, 408 timeout, 5xx (and 409) server,
/// 401/403 auth, other 4xx invalid_request.
ErrorClass class_of_status(int status);

/// The longest wait a server's time hint (Retry-After, a rate limit's reset) may ask for. A hint
/// beyond it is not taken: no API means it, and a huge one would overflow the clocks it is added to.
inline constexpr std::chrono::milliseconds kMaxServerWait = std::chrono::hours(24 * 7);

/// A time hint of `ms` milliseconds, rounded; nothing unless it is a number in [0, kMaxServerWait]
/// (not infinite, not NaN).
std::optional<std::chrono::milliseconds> server_wait(double ms);

/// The server's wait hint in milliseconds: `retry-after-ms`, else `retry-after` (seconds or an
/// HTTP date); -1 when there is none (or it is not a usable wait, see server_wait).
std::int64_t retry_after_ms(const HttpResponse& response);

/// The API's error message in a JSON error body ({"error": {"message": ...}} and the like), or
/// the start of the body when it has none.
std::string error_message(const boost::json::value* body, const std::string& raw_body);

/// A classified failure for a non-2xx answer.
CallResult http_failure(const HttpResponse& response, const boost::json::value* body, const std::string& request_id);

/// A 2xx answer that is not what the API promises (truncated, not JSON, fields missing): class
/// `malformed`, a fault of the transfer or the server that a retry usually cures. `parse` is for
/// a well-formed answer whose content the call cannot use.
CallResult unusable_answer(const HttpResponse& response, std::string what, const std::string& request_id,
                           ErrorClass error_class = ErrorClass::malformed);

/// `base` (".../v1") joined with `path` ("/chat/completions"); a path that repeats the base's
/// version ("/v1/chat/completions", as OpenAI Batch lines have it) is joined without repeating it.
std::string join_url(std::string_view base, std::string_view path);

/// Reads `base_url` and checks it is http(s); reports an error through `options` otherwise.
std::string read_base_url(Options& options);

/// The `headers` key: a table of extra request headers (strings).
std::vector<HttpHeader> read_extra_headers(Options& options);

/// Attaches what the server said about its limits; x-should-retry also decides the failure's fate.
CallResult with_signals(CallResult result, RateLimitSignals signals);

/// The largest count (of tokens, or an index) read from an answer: exact as a double, and two of
/// them add up without overflow.
inline constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 53;

/// `value` as a count: a whole number in [0, kMaxCount] (12 or 12.0); nothing for anything else
/// (a negative or fractional number, a string), which an answer's reader then ignores.
std::optional<std::uint64_t> count_of(const boost::json::value& value);

/// The JSON body of a response, or null when it is not JSON.
boost::json::value parse_body(const std::string& body);

}  // namespace flowbatch
