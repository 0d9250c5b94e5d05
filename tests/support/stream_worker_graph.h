#pragma once
// The graph of a scale-out worker, shared by the tests that run several of them on one stream.
#include <fmt/format.h>

#include <string>

namespace flowbatch::test {

/// A worker that runs until drained: a consumer of stream "jobs" in the Redis at `url` (ids from
/// field "id"), call "c" with prompt "{{text}}" on provider "p" (`provider_keys`: its TOML lines,
/// type included), each result in hash "results"; failures retried by "r", then in dead.jsonl
/// (each worker sets its own with --set dead_letters.dead.path=...).
inline std::string stream_worker_graph(const std::string& url, const std::string& provider_keys) {
  return fmt::format(R"([pipeline]
max_in_flight = 16
progress = "off"
[sources.in]
type = "redis_stream"
url = "{0}"
stream = "jobs"
id_field = "id"
claim_idle_ms = 1000
[providers.p]
{1}
[calls.c]
inputs = ["in", "r"]
provider = "p"
model = "m"
prompt = "{{{{text}}}}"
[retries.r]
inputs = ["c.error"]
initial_backoff_ms = 50
max_backoff_ms = 2000
max_attempts = 8
[sinks.out]
inputs = ["c"]
type = "redis_hash"
url = "{0}"
key = "results"
flush_every = 20
flush_interval_ms = 200
[dead_letters.dead]
inputs = ["r.exhausted", "in.invalid"]
path = "dead.jsonl"
)",
                     url, provider_keys);
}

}  // namespace flowbatch::test
