#include "engine/core/url.h"

#include <algorithm>
#include <cctype>

namespace flowbatch {
namespace {

bool unreserved(unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

void append_escaped(unsigned char c, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '%';
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

/// The length of "scheme://" at the start of `url`, or 0 when it has none (RFC 3986 scheme chars).
std::size_t scheme_end(std::string_view url) {
  const auto colon = url.find("://");
  if (colon == std::string_view::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(url[0]))) return 0;
  for (std::size_t i = 0; i < colon; ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return 0;
  }
  return colon + 3;
}

/// The host part of an authority lower-cased (hosts are case-insensitive), the rest as written.
std::string normal_authority(std::string_view authority) {
  const auto at = authority.rfind('@');
  const std::size_t host_from = at == std::string_view::npos ? 0 : at + 1;
  return std::string(authority.substr(0, host_from)) + lower(authority.substr(host_from));
}

}  // namespace

void append_percent_encoded(std::string_view value, std::string& out) {
  if (value == "." || value == "..") {
    for (char c : value) append_escaped(static_cast<unsigned char>(c), out);
    return;
  }
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved(c)) out += ch;
    else append_escaped(c, out);
  }
}

std::optional<UrlOrigin> url_origin(std::string_view url) {
  const std::size_t start = scheme_end(url);
  if (start == 0) return std::nullopt;
  const std::string_view rest = url.substr(start);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  return UrlOrigin{lower(url.substr(0, start - 3)), normal_authority(authority)};
}

FixedOrigin fixed_origin(std::string_view literal_prefix) {
  FixedOrigin fixed;
  const std::size_t start = scheme_end(literal_prefix);
  if (start == 0) return fixed;
  fixed.scheme = lower(literal_prefix.substr(0, start - 3));
  const std::string_view rest = literal_prefix.substr(start);
  // Whatever host text the template writes is the whole host: a value right after it would
  // otherwise extend it ("api.example.com" + ".evil.net", + "@evil.net", + ":1").
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (!authority.empty()) fixed.authority = normal_authority(authority);
  return fixed;
}

}  // namespace flowbatch
