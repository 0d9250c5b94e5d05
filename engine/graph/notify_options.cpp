#include "engine/graph/notify_options.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/config/option_reader.h"
#include "flowbatch/http.h"

namespace flowbatch {

const std::vector<KeySpec>& delivery_keys() {
  static const std::vector<KeySpec> keys = {
      {"url", KeyKind::string, false, "",
       "a webhook: POST the JSON here (http:// or https://; ${ENV} for a secret in it)"},
      {"headers", KeyKind::any, false, "", "the webhook's extra headers, a table of strings (${ENV} allowed)"},
      {"command", KeyKind::string_list, false, "",
       "instead of url: a program and its arguments, given the JSON on stdin (one line, ending in a newline)"},
      {"timeout_ms", KeyKind::integer, false, "10000", "one delivery attempt's time-out"},
      {"max_attempts", KeyKind::integer, false, "5", "attempts before a notification is given up (logged)"},
  };
  return keys;
}

const std::vector<KeySpec>& notify_keys() {
  static const std::vector<KeySpec> keys = [] {
    std::vector<KeySpec> k = delivery_keys();
    k.push_back({"on",
                 KeyKind::string_list,
                 false,
                 "commit,finish",
                 "when: after outputs commit (\"commit\") and once at the end (\"finish\")",
                 {"commit", "finish"}});
    k.push_back({"min_interval_ms", KeyKind::integer, false, "10000",
                 "commit notifications at most this often (the last commit is always told at the end)"});
    return k;
  }();
  return keys;
}

DeliveryTarget read_delivery_target(OptionReader& o, std::string name, const std::filesystem::path& workdir) {
  DeliveryTarget t;
  t.name = std::move(name);
  t.workdir = workdir;
  t.url = o.string("url");
  t.headers = read_extra_headers(o);
  t.command = o.strings("command");
  if (t.url.empty() == t.command.empty())
    o.error(t.url.empty() ? "url" : "command", "give exactly one of url (a webhook) and command (a local program)");
  if (!t.url.empty() && !t.url.starts_with("http://") && !t.url.starts_with("https://"))
    o.error("url", "must start with http:// or https://");
  if (!t.command.empty() && t.command.front().empty()) o.error("command", "the program's name is empty");
  if (!t.headers.empty() && t.url.empty()) o.error("headers", "headers go with a url");
  const std::int64_t timeout = o.integer("timeout_ms");
  if (timeout < 100) o.error("timeout_ms", "must be at least 100");
  t.timeout = std::chrono::milliseconds(std::max<std::int64_t>(timeout, 100));
  const std::int64_t attempts = o.integer("max_attempts");
  if (attempts < 1 || attempts > 100) o.error("max_attempts", "must be between 1 and 100");
  t.max_attempts = static_cast<int>(std::clamp<std::int64_t>(attempts, 1, 100));
  return t;
}

std::optional<DeliveryTarget> read_optional_delivery_target(OptionReader& o, std::string name,
                                                            const std::filesystem::path& workdir) {
  if (o.has("url") || o.has("command")) return read_delivery_target(o, std::move(name), workdir);
  if (o.has("headers")) o.error("headers", "headers go with a url");
  return std::nullopt;
}

NotifyRule read_notify_rule(OptionReader& o, std::string name, const std::filesystem::path& workdir) {
  NotifyRule r;
  r.target = read_delivery_target(o, std::move(name), workdir);
  const std::vector<std::string> on = o.strings("on");
  if (on.empty()) o.error("on", "name at least one of \"commit\", \"finish\"");
  r.on_commit = std::find(on.begin(), on.end(), "commit") != on.end();
  r.on_finish = std::find(on.begin(), on.end(), "finish") != on.end();
  const std::int64_t interval = o.integer("min_interval_ms");
  if (interval < 0) o.error("min_interval_ms", "must not be negative");
  r.min_interval = std::chrono::milliseconds(std::max<std::int64_t>(interval, 0));
  return r;
}

}  // namespace flowbatch
