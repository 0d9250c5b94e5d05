#pragma once
// The rate-limit headers of the HTTP APIs, read into the provider-neutral RateLimitSignals the
// engine's rate gate understands. OpenAI's x-ratelimit-* headers are what most OpenAI-compatible
// servers send too: a plugin provider for one uses openai_rate_signals. Implemented in the
// flowbatch program (nodes/providers/rate_headers.cpp).
#include <chrono>
#include <optional>
#include <string_view>

#include "flowbatch/provider.h"

namespace flowbatch {

/// A Go-style duration as OpenAI sends it ("1s", "6m0s", "20ms", "1h2m3.5s", "0.5s"); nothing
/// when it is not one, or longer than kMaxServerWait (flowbatch/http.h).
std::optional<std::chrono::milliseconds> parse_go_duration(std::string_view text);

/// Milliseconds from `now` until an RFC 3339 time ("2026-11-27T01:22:50Z"); 0 when in the past,
/// nothing when it is not one or further away than kMaxServerWait.
std::optional<std::chrono::milliseconds> parse_rfc3339_from(std::string_view text,
                                                            std::chrono::system_clock::time_point now);

/// x-ratelimit-{limit,remaining,reset}-{requests,tokens}, retry-after(-ms), x-should-retry.
RateLimitSignals openai_rate_signals(const HttpResponse& response);

/// anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset},
/// retry-after, x-should-retry.
RateLimitSignals anthropic_rate_signals(const HttpResponse& response,
                                        std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace flowbatch
