#pragma once
// The graph the queue-like sources' node tests share: source "in" (until_empty) of a queue type,
// its invalid port to bad.jsonl, its items to sink "out".
#include <fmt/format.h>

#include <string>

namespace flowbatch::test {

/// `source_keys`: the source's type and connection lines; `sink_toml`: the sink's keys.
inline std::string queue_graph(const std::string& source_keys, const std::string& sink_toml) {
  return fmt::format(R"([sources.in]
until_empty = true
{}
[dead_letters.bad]
inputs = ["in.invalid"]
path = "bad.jsonl"
[sinks.out]
inputs = ["in"]
{}
)",
                     source_keys, sink_toml);
}

}  // namespace flowbatch::test
