#include "engine/config/expanded_secrets.h"

#include <fmt/format.h>

namespace flowbatch {
namespace {

bool is_url(std::string_view text) {
  for (std::string_view scheme : {"http://", "https://", "redis://", "rediss://", "postgres://", "postgresql://"})
    if (text.starts_with(scheme)) return true;
  return false;
}

/// Whether `span` of `url` lies within its scheme, host and port (and so is no secret): a base
/// address chosen per environment ("https://${API_HOST}/v1") is not a key.
bool only_scheme_and_host(std::string_view url, const TextSpan& span) {
  const std::size_t scheme_end = url.find("://") + 3;
  const std::size_t host_end = std::min(url.find_first_of("/?#", scheme_end), url.size());
  const std::size_t at = url.substr(0, host_end).rfind('@');
  const std::size_t userinfo_end = at != std::string_view::npos && at >= scheme_end ? at + 1 : scheme_end;
  const std::size_t end = span.offset + span.size;
  const bool touches_userinfo = span.offset < userinfo_end && end > scheme_end;
  return end <= host_end && !touches_userinfo;
}

void register_value(const ConfigValue& v, const std::string& subject, bool in_headers, Redactor& redactor,
                    Diagnostics& diagnostics) {
  if (!in_headers && !is_url(v.text)) return;
  for (const TextSpan& span : v.expanded) {
    if (!in_headers && only_scheme_and_host(v.text, span)) continue;
    if (redactor.add(v.text.substr(span.offset, span.size)) == Redactor::Added::too_short)
      diagnostics.warning(v.where, subject,
                          fmt::format("an environment variable's value used here is shorter than {} characters: too "
                                      "short to be redacted safely, it may appear in messages and outputs",
                                      Redactor::kMinLength));
  }
}

/// Keys whose every expanded value is secret, URL or not: a PostgreSQL connection string may be
/// key=value pairs ("host=db password=${PGPASSWORD}").
bool secret_key(const std::string& key) { return key == "headers" || key == "connection"; }

void walk(const ConfigValue& v, const std::string& subject, bool in_headers, Redactor& redactor,
          Diagnostics& diagnostics) {
  switch (v.kind) {
    case ConfigValue::Kind::string: register_value(v, subject, in_headers, redactor, diagnostics); break;
    case ConfigValue::Kind::array:
      for (const auto& item : v.items) walk(item, subject, in_headers, redactor, diagnostics);
      break;
    case ConfigValue::Kind::table:
      for (const auto& e : v.entries)
        walk(e.value, subject.empty() ? e.key : subject + "." + e.key, in_headers || secret_key(e.key), redactor,
             diagnostics);
      break;
    default: break;
  }
}

bool loopback_host(std::string_view host) {
  if (host == "localhost" || host.ends_with(".localhost") || host == "[::1]") return true;
  if (!host.starts_with("127.")) return false;
  return host.find_first_not_of("0123456789.") == std::string_view::npos;
}

}  // namespace

void register_expanded_secrets(const ConfigValue& tree, const std::string& subject, Redactor& redactor,
                               Diagnostics& diagnostics) {
  walk(tree, subject, false, redactor, diagnostics);
}

bool has_loopback_host(std::string_view url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return false;
  std::string_view host = url.substr(scheme + 3);
  host = host.substr(0, host.find_first_of("/?#"));
  if (const auto at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
  if (host.starts_with('[')) host = host.substr(0, host.find(']') + 1);  // [::1]:8080
  else host = host.substr(0, host.find(':'));
  return loopback_host(host);
}

const ConfigValue* find_plain_http_url(const ConfigValue& tree) {
  if (tree.kind == ConfigValue::Kind::string)
    return tree.text.starts_with("http://") && !has_loopback_host(tree.text) ? &tree : nullptr;
  for (const auto& item : tree.items)
    if (const ConfigValue* found = find_plain_http_url(item)) return found;
  for (const auto& e : tree.entries)
    if (const ConfigValue* found = find_plain_http_url(e.value)) return found;
  return nullptr;
}

}  // namespace flowbatch
