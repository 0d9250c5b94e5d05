#pragma once
// The graph of a worker on a PostgreSQL queue table, shared by the tests that run several of them.
#include <fmt/format.h>

#include <string>

namespace flowbatch::test {

/// A worker: rows of "jobs" → call (mock answering in `latency_ms`; prompts over 200 characters are
/// refused) → "results". `source_keys` are more lines for [sources.in].
inline std::string pg_worker_graph(const std::string& url, const std::string& source_keys, int latency_ms = 20) {
  return fmt::format(R"([pipeline]
max_in_flight = 16
progress = "off"
[sources.in]
type = "postgres_queue"
connection = "{0}"
table = "jobs"
lease_ms = 1000
{1}
[providers.p]
type = "mock"
latency_ms = {2}
max_prompt_chars = 200
[calls.c]
inputs = ["in"]
provider = "p"
prompt = "{{{{text}}}}"
[sinks.out]
inputs = ["c"]
type = "postgres"
connection = "{0}"
table = "results"
flush_every = 50
flush_interval_ms = 200
[dead_letters.dead]
inputs = ["c.error", "in.invalid"]
path = "dead.jsonl"
)",
                     url, source_keys, latency_ms);
}

}  // namespace flowbatch::test
