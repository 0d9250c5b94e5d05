#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace flowbatch {

/// Why an item failed. Retry policies (`retry_on`) and the run summary speak in these classes.
enum class ErrorClass : std::uint8_t {
  rate_limit,       ///< 429 or a provider's rate-limit signal; retryable
  server,           ///< 5xx, overloaded; retryable
  timeout,          ///< the request took longer than its time-out; retryable
  network,          ///< connection refused/reset, DNS; retryable
  invalid_request,  ///< 400/404/422, empty or oversized prompt; not retryable as is
  auth,             ///< 401/403; not retryable
  parse,            ///< the model's answer is not what the call asked for (parse = "json"); not retried by default
  quota,            ///< credit or quota exhausted; stops the provider
  invalid_input,    ///< an input record that could not be decoded
  transform,        ///< a transform threw on this item
  budget,           ///< the job's budget cap was reached before this item was sent
  malformed,        ///< a response that is not the API's shape (truncated, not JSON, fields missing); retryable
};

inline constexpr std::array<ErrorClass, 12> kAllErrorClasses = {
    ErrorClass::rate_limit,      ErrorClass::server,    ErrorClass::timeout, ErrorClass::network,
    ErrorClass::invalid_request, ErrorClass::auth,      ErrorClass::parse,   ErrorClass::quota,
    ErrorClass::invalid_input,   ErrorClass::transform, ErrorClass::budget,  ErrorClass::malformed};

constexpr std::string_view to_string(ErrorClass c) {
  switch (c) {
    case ErrorClass::rate_limit: return "rate_limit";
    case ErrorClass::server: return "server";
    case ErrorClass::timeout: return "timeout";
    case ErrorClass::network: return "network";
    case ErrorClass::invalid_request: return "invalid_request";
    case ErrorClass::auth: return "auth";
    case ErrorClass::parse: return "parse";
    case ErrorClass::quota: return "quota";
    case ErrorClass::invalid_input: return "invalid_input";
    case ErrorClass::transform: return "transform";
    case ErrorClass::budget: return "budget";
    case ErrorClass::malformed: return "malformed";
  }
  return "unknown";
}

constexpr std::optional<ErrorClass> parse_error_class(std::string_view name) {
  for (ErrorClass c : kAllErrorClasses)
    if (to_string(c) == name) return c;
  return std::nullopt;
}

}  // namespace flowbatch
