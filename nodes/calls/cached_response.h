#pragma once
// How a call's lasting response cache keeps a whole answer (a request not packed).
#include <optional>
#include <string>

#include "engine/core/redactor.h"
#include "flowbatch/provider.h"

namespace flowbatch {

/// What the cache keeps of a whole answer: its status and body, redacted (a server may echo the
/// key, and the cache outlives the run). Never the headers: they may carry cookies or tokens, and
/// what they tell (rate limits, request ids) is about the request that was sent, not this one.
std::string encode_response(const HttpResponse& response, const Redactor& redactor);
/// The answer encode_response() kept, or nothing when the text is not one.
std::optional<HttpResponse> decode_response(const std::string& text);

}  // namespace flowbatch
