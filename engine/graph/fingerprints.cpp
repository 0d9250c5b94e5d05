#include "engine/graph/fingerprints.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <set>

#include "engine/core/hash.h"

namespace flowbatch {
namespace {

/// Keys that decide how fast, how safely or how often, never what an answer is.
bool operational(std::string_view key) {
  static const std::set<std::string_view> keys = {"cache",
                                                  "flush_every",
                                                  "max_concurrency",
                                                  "max_concurrency_limit",
                                                  "initial_concurrency",
                                                  "requests_per_minute",
                                                  "tokens_per_minute",
                                                  "shared_limit",
                                                  "shared_limit_key",
                                                  "ca_file",
                                                  "low_speed_limit",
                                                  "api_key",
                                                  "api_key_env",
                                                  "headers",
                                                  "failure_rate",
                                                  "rate_limit_rate",
                                                  "latency_sigma",
                                                  "multiplier",
                                                  "jitter",
                                                  "burst_seconds"};
  if (keys.contains(key)) return true;
  if (key.ends_with("_ms")) return true;                      // time-outs, back-offs, latencies, intervals
  return key.starts_with("pack_") && key.ends_with("_rate");  // a simulation's faults
}

void canonical(const ConfigValue& v, std::string& out) {
  switch (v.kind) {
    case ConfigValue::Kind::string:
    case ConfigValue::Kind::datetime: out += fmt::format("s{}:{}", v.text.size(), v.text); break;
    case ConfigValue::Kind::integer: out += fmt::format("i{};", v.integer); break;
    case ConfigValue::Kind::floating: out += fmt::format("f{};", v.floating); break;
    case ConfigValue::Kind::boolean: out += v.boolean ? "t" : "f"; break;
    case ConfigValue::Kind::array:
      out += '[';
      for (const auto& item : v.items) canonical(item, out);
      out += ']';
      break;
    case ConfigValue::Kind::table: {
      std::map<std::string, const ConfigValue*> sorted;  // the order keys are written in is not a change
      for (const auto& e : v.entries) sorted[e.key] = &e.value;
      out += '{';
      for (const auto& [key, value] : sorted) {
        out += fmt::format("k{}:{}=", key.size(), key);
        canonical(*value, out);
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

Fingerprints fingerprint_graph(const ConfigValue& root) {
  Fingerprints out;
  for (const auto& table : root.entries) {
    if (table.key == "pipeline" || !table.value.is_table()) continue;
    for (const auto& node : table.value.entries) {
      if (!node.value.is_table()) continue;
      for (const auto& key : node.value.entries) {
        if (operational(key.key)) continue;
        std::string text;
        canonical(key.value, text);
        out[fmt::format("{}.{}.{}", table.key, node.key, key.key)] = hex16(stable_hash(text, 0x66707276ULL));
      }
    }
  }
  return out;
}

std::vector<std::string> changed_keys(const Fingerprints& before, const Fingerprints& now) {
  std::vector<std::string> changed;
  for (const auto& [key, hash] : now) {
    auto it = before.find(key);
    if (it == before.end() || it->second != hash) changed.push_back(key);
  }
  for (const auto& [key, hash] : before)
    if (!now.contains(key)) changed.push_back(key);
  return changed;
}

std::string describe_changes(const std::vector<std::string>& keys) {
  if (keys.size() == 1) return keys[0];
  if (keys.size() == 2) return keys[0] + " and " + keys[1];
  if (keys.size() == 3) return keys[0] + ", " + keys[1] + " and " + keys[2];
  return fmt::format("{}, {}, {} and {} more keys", keys[0], keys[1], keys[2], keys.size() - 3);
}

std::string to_json(const Fingerprints& f) {
  boost::json::object o;
  for (const auto& [key, hash] : f) o[key] = hash;
  return boost::json::serialize(o);
}

Fingerprints fingerprints_from_json(const std::string& text) {
  Fingerprints f;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return f;
  for (const auto& kv : v.get_object())
    if (kv.value().is_string()) f[std::string(kv.key())] = std::string(kv.value().get_string());
  return f;
}

}  // namespace flowbatch
