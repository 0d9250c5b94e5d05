// flowbatch-mock: a mock OpenAI / Anthropic API server, to dry-run pipelines for free and to
// test and benchmark flowbatch against real HTTP. See mock_server/README.md.
#include <sys/resource.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>

#include "mock_server/api.h"
#include "mock_server/server.h"

namespace {

using flowbatch::mock::MockOptions;

void add_flags(CLI::App& app, MockOptions& o) {
  app.add_option("--host", o.host, "address to listen on")->capture_default_str();
  app.add_option("--port", o.port, "port to listen on (0: an ephemeral port, printed on start)")->capture_default_str();
  app.add_option("--threads", o.threads, "io threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--latency-ms", o.latency_ms, "mean simulated latency per request (lognormal)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--latency-sigma", o.latency_sigma, "spread of that lognormal (0: always the mean)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--capacity", o.capacity,
                 "requests served at full speed at once; past it latency grows with the concurrency (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rpm", o.requests_per_minute, "requests per minute allowed (0: unlimited)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--tpm", o.tokens_per_minute, "tokens per minute allowed (0: unlimited)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--burst-seconds", o.burst_seconds, "rate-limit bucket capacity, in seconds of the rate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--rolling-window-seconds", o.rolling_window_seconds,
                 "count --rpm/--tpm over any rolling window this long, allowing its share of the minute's limit "
                 "(60: N in any 60 s; 0: token buckets)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  const auto probability = CLI::Range(0.0, 1.0);
  app.add_option("--error-rate", o.faults.server_error, "share of requests answered 5xx")->check(probability);
  app.add_option("--reset-rate", o.faults.reset, "share of connections closed without an answer")->check(probability);
  app.add_option("--malformed-rate", o.faults.malformed, "share answered 200 with truncated JSON")->check(probability);
  app.add_option("--truncate-rate", o.faults.truncated, "share whose answer stops halfway, the connection closed")
      ->check(probability);
  app.add_option("--hang-rate", o.faults.hang, "share never answered")->check(probability);
  app.add_option("--quota-rate", o.faults.quota, "share answered 'insufficient quota'")->check(probability);
  app.add_option("--trickle-rate", o.faults.trickle, "share whose answer is sent one byte a second")
      ->check(probability);
  app.add_option("--seed", o.seed, "seed of the simulated faults and latencies")->capture_default_str();
  // Also read from the environment, so the key need not show in `ps`.
  app.add_option("--api-key", o.api_key, "require this key (Authorization: Bearer, or x-api-key)")
      ->envname("FLOWBATCH_MOCK_API_KEY");
  app.add_option("--pack-drop-rate", o.pack_faults.drop, "share of packed answers leaving one item out")
      ->check(probability);
  app.add_option("--pack-duplicate-rate", o.pack_faults.duplicate, "share of packed answers answering one item twice")
      ->check(probability);
  app.add_option("--pack-foreign-rate", o.pack_faults.foreign, "share of packed answers adding an id not asked")
      ->check(probability);
  app.add_option("--pack-shuffle-rate", o.pack_faults.shuffle, "share of packed answers out of order")
      ->check(probability);
  app.add_option("--pack-cut-rate", o.pack_faults.cut, "share of packed answers cut short (finish reason length)")
      ->check(probability);
  app.add_option("--replies", o.replies, "chat replies to pick from by a hash of the prompt")->delimiter(',');
  app.add_option("--max-prompt-chars", o.max_prompt_chars, "longer prompts are answered 400")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batch-seconds", o.batch_seconds, "how long a batch takes from creation until every line is done")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch-expire-seconds", o.batch_expire_seconds,
                 "a batch expires this long after creation, lines not done then expired (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch-max-lines", o.batch_max_lines, "the most requests one batch may hold")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batch-max-bytes", o.batch_max_bytes, "the largest batch input file")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batch-enqueued-tokens", o.batch_enqueued_tokens,
                 "OpenAI batches: the most prompt tokens one model's batches in progress may hold; one that would "
                 "pass it fails with token_limit_exceeded (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch-processing-requests", o.batch_processing_requests,
                 "Anthropic batches: the most requests the batches in progress may hold; a create that would pass "
                 "it is refused with 429 rate_limit_error (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

/// Thousands of keep-alive connections need thousands of descriptors; the soft limit is often 1024.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) std::perror("flowbatch-mock: setrlimit(RLIMIT_NOFILE)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flowbatch-mock: a mock OpenAI / Anthropic API server for dry runs, tests and benchmarks"};
  MockOptions options;
  add_flags(app, options);
  CLI11_PARSE(app, argc, argv);

  const auto& f = options.faults;
  if (f.server_error + f.reset + f.malformed + f.truncated + f.hang + f.quota + f.trickle > 1.0) {
    fmt::print(stderr, "flowbatch-mock: the fault rates add up to more than 1\n");
    return 2;
  }

  // A client that disconnects must cost an error code on write, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  raise_descriptor_limit();
  flowbatch::mock::MockApi api(options);
  std::unique_ptr<flowbatch::mock::HttpServer> server;
  try {
    server = std::make_unique<flowbatch::mock::HttpServer>(api, options.host, options.port, options.threads);
  } catch (const std::exception& e) {  // a bad --host, a port in use...
    fmt::print(stderr, "flowbatch-mock: cannot listen on {}:{}: {}\n", options.host, options.port, e.what());
    return 1;
  }
  fmt::print("flowbatch-mock listening on {}\n", server->url());
  std::fflush(stdout);
  server->run();
  return 0;
}
