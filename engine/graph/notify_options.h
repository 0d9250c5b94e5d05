#pragma once
// [notify.NAME]: tell downstream systems that results are ready (docs/watching.md).
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "flowbatch/options.h"
#include "flowbatch/provider.h"

namespace flowbatch {

class OptionReader;

/// Where a notification goes: a webhook (POST of JSON) or a local command (the JSON on stdin).
struct DeliveryTarget {
  std::string name;                          ///< "notify.ready": names it in log lines
  std::string url;                           ///< the webhook; empty: `command` instead. May hold a secret (redacted)
  std::vector<HttpHeader> headers;           ///< sent with the webhook
  std::vector<std::string> command;          ///< argv, run in the graph's folder
  std::filesystem::path workdir;             ///< the graph's folder
  std::chrono::milliseconds timeout{10000};  ///< one attempt
  int max_attempts = 5;                      ///< then the notification is given up (logged, never fatal)
};

struct NotifyRule {
  DeliveryTarget target;
  bool on_commit = true;  ///< after outputs commit (at most every `min_interval`)
  bool on_finish = true;  ///< once at the end, with the run summary and exit code
  std::chrono::milliseconds min_interval{10000};
};

/// The keys of a [notify.NAME] table.
const std::vector<KeySpec>& notify_keys();
/// The keys every delivery target takes (url, headers, command, timeout_ms, max_attempts): also
/// those of [alerts.NAME].
const std::vector<KeySpec>& delivery_keys();
/// Reads the target keys of a table (`name` is its dotted name); errors go through `options`.
DeliveryTarget read_delivery_target(OptionReader& options, std::string name, const std::filesystem::path& workdir);
/// The same for a table where a target is optional ([alerts.NAME]): nothing when it names neither
/// a url nor a command.
std::optional<DeliveryTarget> read_optional_delivery_target(OptionReader& options, std::string name,
                                                            const std::filesystem::path& workdir);
NotifyRule read_notify_rule(OptionReader& options, std::string name, const std::filesystem::path& workdir);

}  // namespace flowbatch
