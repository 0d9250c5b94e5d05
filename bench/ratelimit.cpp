// bench/ratelimit: rate limits and adaptive concurrency against flowbatch-mock, in one run.
//
//  1. The server enforces 3,000 requests/min (a one-second token bucket); flowbatch is configured
//     for 3,000/min; ~2 minutes.
//  2. The same server; flowbatch is told 6,000/min (wrong on purpose).
//  3. The server allows 3,000 requests in any rolling 60 s (as OpenAI counts); flowbatch is
//     configured for exactly 3,000/min.
//  4. The same rolling-window server; flowbatch is told 6,000/min.
//     For 1-4: the rate achieved against the server's limit, the share of 429 answers, the most
//     arrivals the server saw in any 60 s, and that every item ended exactly once.
//  5. A server with 200 ms latency that serves 128 requests at full speed (beyond, latency grows):
//     flowbatch at fixed max_concurrency 32, 64, 128, 256, then "adaptive"; requests/s of each.
//
//   build/bench/bench_ratelimit [--minutes 2] [--adaptive-requests 12000]
#include <fmt/format.h>
#include <boost/json.hpp>

#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "bench/support.h"

using namespace flowbatch::bench;
namespace fs = std::filesystem;

namespace {

struct Server {
  std::string base;
  std::unique_ptr<Background> process;
  boost::json::object stats() const { return boost::json::parse(http_get(base + "/stats")).as_object(); }
};

Server start_mock(const fs::path& dir, const std::vector<std::string>& flags) {
  const int port = free_port();
  std::vector<std::string> argv = {FLOWBATCH_MOCK_BINARY, "--port", std::to_string(port)};
  argv.insert(argv.end(), flags.begin(), flags.end());
  Server s{fmt::format("http://127.0.0.1:{}", port), std::make_unique<Background>(argv, dir / "mock.log")};
  if (!wait_for_port(port)) throw std::runtime_error("flowbatch-mock did not start");
  return s;
}

fs::path write_items(const fs::path& dir, std::size_t n) {
  const fs::path file = dir / fmt::format("items-{}.jsonl", n);
  std::ofstream out(file);
  for (std::size_t i = 1; i <= n; ++i)
    out << fmt::format(R"({{"id":"i{}","text":"question number {}"}})", i, i) << "\n";
  return file;
}

fs::path write_graph(const fs::path& dir, const std::string& base_url, const std::string& provider_keys,
                     const fs::path& input) {
  const fs::path graph = dir / "ratelimit.toml";
  std::ofstream(graph) << fmt::format(R"(
[pipeline]
name = "bench_ratelimit"
progress = "off"
[providers.api]
type = "openai"
base_url = "{}/v1"
api_key_env = ""
{}
[sources.in]
path = "{}"
id_field = "id"
[calls.ask]
inputs = ["in", "again"]
provider = "api"
model = "m"
prompt = "{{{{text}}}}"
max_tokens = 8
[retries.again]
inputs = ["ask.error"]
max_attempts = 20
initial_backoff_ms = 200
[dead_letters.failed]
inputs = ["again.exhausted", "in.invalid"]
path = "failed.jsonl"
[sinks.out]
inputs = ["ask"]
path = "out.jsonl"
flush_every = 100000
)",
                                      base_url, provider_keys, input.string());
  return graph;
}

/// Each scenario is a new job in the same folder: no state, or it would resume the last one.
std::vector<std::string> flowbatch_command(const fs::path& graph) {
  return {FLOWBATCH_BINARY, "run", graph.string(), "--set", "pipeline.state=none"};
}

/// Every id once across results and dead letters.
bool each_once(const fs::path& dir, std::size_t n) {
  std::set<std::string> seen;
  std::size_t lines = 0;
  for (const char* name : {"out.jsonl", "failed.jsonl"}) {
    std::ifstream in(dir / name);
    std::string line;
    while (std::getline(in, line)) {
      ++lines;
      seen.insert(std::string(boost::json::parse(line).at("id").as_string()));
    }
  }
  return lines == n && seen.size() == n;
}

int status_count(const boost::json::object& stats, const char* status) {
  const auto& by = stats.at("by_status").as_object();
  return by.contains(status) ? by.at(status).to_number<int>() : 0;
}

enum class ServerLimit { token_bucket, rolling_window };

void rate_scenario(const fs::path& dir, const char* title, ServerLimit kind, double client_rpm, double minutes) {
  const double server_rpm = 3000;
  const auto n = static_cast<std::size_t>(server_rpm * minutes);
  std::vector<std::string> flags = {"--rpm", "3000", "--latency-ms", "50", "--threads", "1"};
  if (kind == ServerLimit::rolling_window) flags.insert(flags.end(), {"--rolling-window-seconds", "60"});
  Server server = start_mock(dir, flags);
  const fs::path graph =
      write_graph(dir, server.base, fmt::format("requests_per_minute = {:.0f}\nmax_concurrency = 64", client_rpm),
                  write_items(dir, n));
  fs::remove(dir / "out.jsonl");
  fs::remove(dir / "failed.jsonl");
  const Measured m = run_measured(flowbatch_command(graph), dir, dir / "flowbatch.log");
  const auto stats = server.stats();
  const int requests = stats.at("requests").to_number<int>();
  const int ok = status_count(stats, "200");
  const int limited = status_count(stats, "429");
  const double achieved = static_cast<double>(ok) / (m.seconds / 60.0);
  const int peak = stats.at("per_minute_peak").to_number<int>();
  fmt::print(
      "{}\n   {} items in {:.1f} s: {:.0f} successful requests/min = {:.1f}% of the server's {:.0f}/min; "
      "{} of {} answers were 429 ({:.2f}%); most arrivals in any 60 s (to the second): {}; "
      "every item once: {}; exit {}\n",
      title, n, m.seconds, achieved, 100.0 * achieved / server_rpm, server_rpm, limited, requests,
      100.0 * limited / std::max(1, requests), peak, each_once(dir, n) ? "yes" : "NO", m.exit_code);
}

double concurrency_scenario(const fs::path& dir, const std::string& setting, std::size_t n,
                            std::string* log_line = nullptr) {
  Server server =
      start_mock(dir, {"--latency-ms", "200", "--latency-sigma", "0", "--capacity", "128", "--threads", "1"});
  const std::string keys = setting == "adaptive" ? "max_concurrency = \"adaptive\"\nmax_concurrency_limit = 512"
                                                 : "max_concurrency = " + setting;
  const fs::path graph = write_graph(dir, server.base, keys, write_items(dir, n));
  const Measured m = run_measured(flowbatch_command(graph), dir, dir / "flowbatch.log");
  if (log_line) {
    std::ifstream log(dir / "flowbatch.log");
    std::string line;
    while (std::getline(log, line))
      if (line.find("adaptive concurrency ended") != std::string::npos) *log_line = line;
  }
  if (m.exit_code != 0) throw std::runtime_error("flowbatch failed; see " + (dir / "flowbatch.log").string());
  return static_cast<double>(n) / m.seconds;
}

}  // namespace

int main(int argc, char** argv) {
  double minutes = 2;
  std::size_t adaptive_requests = 12000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--minutes")) minutes = std::stod(argv[i + 1]);
    if (!std::strcmp(argv[i], "--adaptive-requests")) adaptive_requests = std::stoul(argv[i + 1]);
  }
  try {
    const fs::path dir = scratch_dir("ratelimit");
    fmt::print("bench_ratelimit  rev {}  {} cores  scratch {}\n\n", git_revision(), std::thread::hardware_concurrency(),
               dir.string());
    rate_scenario(dir, "1. server limit 3,000/min, flowbatch configured 3,000/min (target >= 97%, <= 1% 429)",
                  ServerLimit::token_bucket, 3000, minutes);
    rate_scenario(dir,
                  "2. server limit 3,000/min, flowbatch told 6,000/min (target: settles near the limit, nothing lost)",
                  ServerLimit::token_bucket, 6000, minutes);
    rate_scenario(dir,
                  "3. rolling-window server, 3,000 in any 60 s; flowbatch configured exactly 3,000/min "
                  "(target: 0 429s, >= 97%)",
                  ServerLimit::rolling_window, 3000, minutes);
    rate_scenario(dir, "4. rolling-window server, 3,000 in any 60 s; flowbatch told 6,000/min (target: <= 1% 429)",
                  ServerLimit::rolling_window, 6000, minutes);

    fmt::print("5. 200 ms latency, server at full speed up to 128 concurrent requests, {} requests each\n",
               adaptive_requests);
    double best = 0;
    std::string best_setting;
    for (const char* fixed : {"32", "64", "128", "256"}) {
      const double rate = concurrency_scenario(dir, fixed, adaptive_requests);
      fmt::print("   max_concurrency = {:>8}: {:>6.0f} requests/s\n", fixed, rate);
      if (rate > best) {
        best = rate;
        best_setting = fixed;
      }
    }
    std::string ended;
    const double adaptive = concurrency_scenario(dir, "adaptive", adaptive_requests, &ended);
    fmt::print(
        "   max_concurrency = adaptive: {:>6.0f} requests/s = {:.1f}% of the best fixed setting ({}) (target >= 90%)\n",
        adaptive, 100.0 * adaptive / best, best_setting);
    if (!ended.empty()) fmt::print("   ({})\n", ended.substr(ended.find("provider")));
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_ratelimit: {}\n", e.what());
    return 1;
  }
}
