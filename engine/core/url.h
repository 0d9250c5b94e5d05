#pragma once
// The little of URLs that request templates need: escaping a value for a path or query, and the
// scheme and authority ("host:port") a URL sends to, so a rendered URL can be held to its template's.
#include <optional>
#include <string>
#include <string_view>

namespace flowbatch {

/// Appends `value` percent-encoded: everything but RFC 3986's unreserved characters
/// (A-Z a-z 0-9 - . _ ~) is escaped, so a value stays one path segment or query value. A value
/// that is only "." or ".." is escaped whole: it would otherwise climb the path.
void append_percent_encoded(std::string_view value, std::string& out);

/// Where a URL sends a request: its scheme (lower-cased) and authority (userinfo, host, port as
/// written; the host lower-cased).
struct UrlOrigin {
  std::string scheme;
  std::string authority;
  bool operator==(const UrlOrigin&) const = default;
};

/// The origin of an absolute URL ("https://api.example.com:8443/x" → https, api.example.com:8443);
/// nothing when `url` does not start with "scheme://".
std::optional<UrlOrigin> url_origin(std::string_view url);

/// The scheme and authority that a URL template's literal start writes out, which rendering may
/// not change: "https://api.example.com/{{p}}" and "https://api.example.com{{raw:path}}" fix both,
/// "https://{{host}}/" only the scheme, "{{u}}" nothing. `literal_prefix` is the template's text
/// before its first placeholder.
struct FixedOrigin {
  std::optional<std::string> scheme;
  std::optional<std::string> authority;
};
FixedOrigin fixed_origin(std::string_view literal_prefix);

}  // namespace flowbatch
