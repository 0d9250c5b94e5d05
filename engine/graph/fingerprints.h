#pragma once
// What a graph's results depend on, as hashes: one per result-relevant key of every node and
// provider ("calls.b.prompt" → hash of its value). The state keeps them; a run whose graph
// changed one of them since does not keep the old results silently (it starts over, naming the
// keys), while keys of speed and safety — rate limits, concurrency, time-outs, flush settings,
// back-offs, the cache switch, [pipeline] — change nothing. Only hashes are kept: never a value,
// which may hold a secret.
#include <map>
#include <string>
#include <vector>

#include "engine/config/config_value.h"

namespace flowbatch {

using Fingerprints = std::map<std::string, std::string>;

/// The fingerprints of a graph's TOML tree.
Fingerprints fingerprint_graph(const ConfigValue& root);

/// The keys whose fingerprint differs between `before` and `now` (added, removed or changed).
std::vector<std::string> changed_keys(const Fingerprints& before, const Fingerprints& now);

/// "calls.b.prompt", "calls.b.prompt and calls.b.model", "a, b, c and 4 more keys".
std::string describe_changes(const std::vector<std::string>& keys);

std::string to_json(const Fingerprints& f);
Fingerprints fingerprints_from_json(const std::string& text);

}  // namespace flowbatch
