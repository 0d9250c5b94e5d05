#include "flowbatch/rate_headers.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <string>

#include "flowbatch/http.h"

namespace flowbatch {

std::optional<std::chrono::milliseconds> parse_go_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (i == start) return std::nullopt;
    const double value = std::strtod(std::string(text.substr(start, i - start)).c_str(), nullptr);
    const std::size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit == "h") total_ms += value * 3'600'000;
    else if (unit == "m") total_ms += value * 60'000;
    else if (unit == "s") total_ms += value * 1000;
    else if (unit == "ms") total_ms += value;
    else if (unit == "us" || unit == "µs") total_ms += value / 1000;
    else if (unit == "ns") total_ms += value / 1e6;
    else return std::nullopt;
  }
  return server_wait(total_ms);
}

std::optional<std::chrono::milliseconds> parse_rfc3339_from(std::string_view text,
                                                            std::chrono::system_clock::time_point now) {
  std::tm tm{};
  const std::string s(text);
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  double fraction = 0;
  if (*rest == '.') {
    char* end = nullptr;
    fraction = std::strtod(rest, &end);
    rest = end;
  }
  long offset_seconds = 0;
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    const int sign = *rest == '-' ? -1 : 1;
    int hours = 0, minutes = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hours, &minutes) != 2) return std::nullopt;
    offset_seconds = sign * (static_cast<long>(hours) * 3600 + static_cast<long>(minutes) * 60);
    rest += 6;
  } else {
    return std::nullopt;
  }
  const auto when_seconds = static_cast<double>(timegm(&tm) - offset_seconds) + fraction;
  const double now_seconds = std::chrono::duration<double>(now.time_since_epoch()).count();
  return server_wait(std::max(0.0, (when_seconds - now_seconds) * 1000.0));
}

namespace {

std::optional<double> number(const HttpResponse& r, std::string_view name) {
  const std::string* v = r.header(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(v->c_str(), &end);
  // Azure has been seen sending -1; "nan" and "inf" read as numbers but mean nothing to a rate gate.
  if (end == v->c_str() || !std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

void common_signals(const HttpResponse& r, RateLimitSignals& s) {
  const std::int64_t after = retry_after_ms(r);
  if (after >= 0) s.retry_after = std::chrono::milliseconds(after);
  if (const std::string* should = r.header("x-should-retry")) {
    if (*should == "true") s.should_retry = true;
    if (*should == "false") s.should_retry = false;
  }
}

}  // namespace

RateLimitSignals openai_rate_signals(const HttpResponse& r) {
  RateLimitSignals s;
  s.limit_requests = number(r, "x-ratelimit-limit-requests");
  s.remaining_requests = number(r, "x-ratelimit-remaining-requests");
  s.limit_tokens = number(r, "x-ratelimit-limit-tokens");
  s.remaining_tokens = number(r, "x-ratelimit-remaining-tokens");
  if (const std::string* reset = r.header("x-ratelimit-reset-requests")) s.reset_requests = parse_go_duration(*reset);
  if (const std::string* reset = r.header("x-ratelimit-reset-tokens")) s.reset_tokens = parse_go_duration(*reset);
  common_signals(r, s);
  return s;
}

RateLimitSignals anthropic_rate_signals(const HttpResponse& r, std::chrono::system_clock::time_point now) {
  RateLimitSignals s;
  s.limit_requests = number(r, "anthropic-ratelimit-requests-limit");
  s.remaining_requests = number(r, "anthropic-ratelimit-requests-remaining");
  if (const std::string* reset = r.header("anthropic-ratelimit-requests-reset"))
    s.reset_requests = parse_rfc3339_from(*reset, now);
  // Combined token limits first; else the input-token limit (the one most jobs hit).
  for (const char* prefix : {"anthropic-ratelimit-tokens-", "anthropic-ratelimit-input-tokens-"}) {
    const std::string p(prefix);
    if (s.limit_tokens || s.remaining_tokens) break;
    s.limit_tokens = number(r, p + "limit");
    s.remaining_tokens = number(r, p + "remaining");
    if (const std::string* reset = r.header(p + "reset")) s.reset_tokens = parse_rfc3339_from(*reset, now);
  }
  common_signals(r, s);
  return s;
}

}  // namespace flowbatch
