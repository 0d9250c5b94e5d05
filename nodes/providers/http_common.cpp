#include "flowbatch/http.h"

#include "engine/core/text.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>

#include <cmath>
#include <cstdlib>
#include <ctime>

namespace flowbatch {

ErrorClass class_of_status(int status) {
  if (status == 429) return ErrorClass::rate_limit;
  if (status == 408) return ErrorClass::timeout;
  if (status >= 500 || status == 409)
    return ErrorClass::server;  // 409: a conflict worth retrying, as OpenAI's SDK does
  if (status == 401 || status == 403) return ErrorClass::auth;
  return ErrorClass::invalid_request;
}

namespace {
/// An HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT") as seconds from now; nullopt if not one.
std::optional<std::int64_t> seconds_until_http_date(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end) return std::nullopt;
  const std::time_t when = timegm(&tm);
  return static_cast<std::int64_t>(when - std::time(nullptr));
}
}  // namespace

std::optional<std::chrono::milliseconds> server_wait(double ms) {
  // Written so that NaN fails too.
  if (!(ms >= 0 && ms <= static_cast<double>(kMaxServerWait.count()))) return std::nullopt;
  return std::chrono::milliseconds(std::llround(ms));
}

std::int64_t retry_after_ms(const HttpResponse& response) {
  std::optional<std::chrono::milliseconds> wait;
  if (const std::string* ms = response.header("retry-after-ms")) {
    char* end = nullptr;
    const double v = std::strtod(ms->c_str(), &end);
    if (end != ms->c_str()) wait = server_wait(std::trunc(v));
  }
  if (const std::string* after = response.header("retry-after"); after && !wait) {
    char* end = nullptr;
    const double seconds = std::strtod(after->c_str(), &end);
    if (end != after->c_str() && *end == '\0') wait = server_wait(std::trunc(seconds * 1000.0));
    else if (auto s = seconds_until_http_date(*after))
      wait = server_wait(std::max<double>(0, static_cast<double>(*s)) * 1000);
  }
  return wait ? wait->count() : -1;
}

namespace {
constexpr std::size_t kMaxErrorBodyShown = std::size_t{64} * 1024;
}  // namespace

std::string error_message(const boost::json::value* body, const std::string& raw_body) {
  if (body && body->is_object()) {
    const auto& o = body->get_object();
    if (const auto* error = o.if_contains("error")) {
      if (const auto* e = error->if_object()) {
        if (const auto* m = e->if_contains("message"); m && m->is_string()) return std::string(m->get_string());
      }
      if (error->is_string()) return std::string(error->get_string());
    }
    if (const auto* m = o.if_contains("message"); m && m->is_string()) return std::string(m->get_string());
  }
  // Cut long, not short: the engine redacts the message, then cuts it to what is shown. A key
  // cut in two here would no longer match it.
  std::string start = to_valid_utf8(raw_body.substr(0, kMaxErrorBodyShown));
  if (raw_body.size() > kMaxErrorBodyShown) start += "...";
  return start.empty() ? "(empty body)" : start;
}

CallResult http_failure(const HttpResponse& response, const boost::json::value* body, const std::string& request_id) {
  CallResult r;
  r.http_status = response.status;
  r.request_id = request_id;
  r.failure = make_failure(class_of_status(response.status),
                           fmt::format("HTTP {}: {}", response.status, error_message(body, response.body)));
  r.failure->http_status = response.status;
  r.failure->request_id = request_id;
  r.failure->retry_after_ms = retry_after_ms(response);
  return r;
}

CallResult unusable_answer(const HttpResponse& response, std::string what, const std::string& request_id,
                           ErrorClass error_class) {
  CallResult r;
  r.http_status = response.status;
  r.request_id = request_id;
  r.failure = make_failure(error_class, std::move(what));
  r.failure->http_status = response.status;
  r.failure->request_id = request_id;
  return r;
}

CallResult with_signals(CallResult result, RateLimitSignals signals) {
  if (result.failure && signals.should_retry) result.failure->should_retry = signals.should_retry;
  result.rate = signals;
  return result;
}

std::string join_url(std::string_view base, std::string_view path) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  if (path.empty()) return std::string(base);
  const bool slash = path.front() == '/';
  // ".../v1" + "/v1/chat/completions": the path already carries the version.
  if (const auto last_slash = base.rfind('/'); last_slash != std::string_view::npos) {
    const std::string_view version = base.substr(slash ? last_slash : last_slash + 1);  // "/v1" (or "v1")
    if (version.size() > (slash ? 1u : 0u) && path.starts_with(version) && path.substr(version.size()).starts_with('/'))
      base = base.substr(0, last_slash);
  }
  // Built once, at its size: every request makes its URL here.
  std::string url;
  url.reserve(base.size() + path.size() + 1);
  url += base;
  if (!slash) url += '/';
  url += path;
  return url;
}

std::string read_base_url(Options& options) {
  std::string url = options.string("base_url");
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    options.error("base_url", fmt::format("must start with http:// or https:// (found \"{}\")", url));
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::optional<std::uint64_t> count_of(const boost::json::value& value) {
  if (const auto* i = value.if_int64(); i && *i >= 0 && static_cast<std::uint64_t>(*i) <= kMaxCount)
    return static_cast<std::uint64_t>(*i);
  if (const auto* u = value.if_uint64(); u && *u <= kMaxCount) return *u;
  // Written so that NaN fails too.
  if (const auto* d = value.if_double(); d && *d >= 0 && *d <= static_cast<double>(kMaxCount) && std::trunc(*d) == *d)
    return static_cast<std::uint64_t>(*d);
  return std::nullopt;
}

boost::json::value parse_body(const std::string& body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec) return nullptr;
  return v;
}

}  // namespace flowbatch
