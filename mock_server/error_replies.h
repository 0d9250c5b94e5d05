#pragma once
// Every error answer the mock gives, in the shape of the API it imitates:
//   OpenAI     {"error":{"message":...,"type":...,"param":...,"code":...}}
//   Anthropic  {"type":"error","error":{"type":...,"message":...}}
#include <optional>
#include <string_view>

#include "mock_server/api_types.h"
#include "mock_server/rate_limit.h"

namespace flowbatch::mock {

enum class ApiFlavor { openai, anthropic };

ApiReply openai_error(unsigned status, std::string_view message, std::string_view type,
                      std::optional<std::string_view> code = std::nullopt,
                      std::optional<std::string_view> param = std::nullopt);
ApiReply anthropic_error(unsigned status, std::string_view type, std::string_view message);

/// A 400 for a request that does not validate, naming what is wrong.
ApiReply invalid_request(ApiFlavor flavor, std::string_view message,
                         std::optional<std::string_view> param = std::nullopt);
/// A 401; OpenAI's message echoes the key the client sent (the project's tests check that
/// flowbatch redacts it from its own output).
ApiReply unauthorized(ApiFlavor flavor, std::optional<std::string_view> sent_key);
/// A 429 for a refused rate-limit decision, with retry-after and retry-after-ms.
ApiReply rate_limited(ApiFlavor flavor, const RateDecision& decision);

/// Simulated faults. `roll` in [0, 1) picks the status: 500/502/503 (and, on Anthropic, 529
/// overloaded for half of them).
ApiReply server_error(ApiFlavor flavor, double roll);
ApiReply insufficient_quota(ApiFlavor flavor);
/// Status 200 with a body cut in the middle of a string: no JSON parser accepts it.
ApiReply malformed_success(ApiFlavor flavor);

}  // namespace flowbatch::mock
