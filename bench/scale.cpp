// bench/scale: many workers, one rate limit (issue 15, part 4).
//
// 1, 2 and 4 flowbatch workers consume one Redis stream and call one flowbatch-mock that allows
// --rpm requests in any rolling 5 s (its per-minute limit scaled to 5 s: a burst above the limit
// is refused within seconds, so a short run shows it). Every worker is configured with the
// server's whole limit and shares it through the same Redis (shared_limit). Halfway, one worker
// is killed with kill -9 (with a single worker, a replacement is started: someone must finish).
// Reported: the successful requests per minute against the server's limit (over the run's middle
// 80%, and over the whole run), the share of 429 answers, and whether every id is in the Redis
// hash sink exactly once.
//
//   build/bench/bench_scale [--rpm 3000] [--seconds 30] [--workers 1,2,4]
#include <fmt/format.h>
#include <boost/json.hpp>

#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "bench/support.h"
#include "engine/io/redis_connection.h"

using namespace flowbatch;
using namespace flowbatch::bench;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  double rpm = 3000;
  double seconds = 30;
  std::vector<int> workers = {1, 2, 4};
};

std::string worker_graph(const std::string& redis_url, const std::string& mock_url, double rpm) {
  return fmt::format(R"([pipeline]
name = "bench_scale"
progress = "off"
max_in_flight = 64
[sources.in]
type = "redis_stream"
url = "{0}"
stream = "jobs"
id_field = "id"
claim_idle_ms = 1000
[providers.api]
type = "openai"
base_url = "{1}/v1"
api_key_env = ""
requests_per_minute = {2:.0f}
max_concurrency = 16
shared_limit = "{0}"
shared_limit_lease_ms = 2000
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
type = "redis_hash"
url = "{0}"
key = "results"
flush_every = 50
flush_interval_ms = 200
)",
                     redis_url, mock_url, rpm);
}

/// A program on a free loopback port, up once the port accepts connections.
struct Served {
  int port;
  std::unique_ptr<Background> process;
};

Served serve(const std::vector<std::string>& argv_before_port, const std::vector<std::string>& after,
             const fs::path& log) {
  const int port = free_port();
  std::vector<std::string> argv = argv_before_port;
  argv.push_back(std::to_string(port));
  argv.insert(argv.end(), after.begin(), after.end());
  Served s{port, std::make_unique<Background>(argv, log)};
  if (!wait_for_port(port)) throw std::runtime_error(argv.front() + " did not start; see " + log.string());
  return s;
}

int status_count(const boost::json::object& stats, const char* status) {
  const auto& by = stats.at("by_status").as_object();
  return by.contains(status) ? by.at(status).to_number<int>() : 0;
}

/// A moment of the run: when, and how many requests the server had answered 200 by then.
struct Sample {
  Clock::time_point at;
  int ok;
};

/// Requests/min between the first sample at or past `from` answers (and `after`) and the first at
/// or past `to` answers.
double rate_between(const std::vector<Sample>& samples, int from, int to, Clock::time_point after = {}) {
  const Sample* first = nullptr;
  const Sample* last = nullptr;
  for (const Sample& s : samples) {
    if (!first && s.ok >= from && s.at >= after) first = &s;
    if (first && !last && s.ok >= to) last = &s;
  }
  if (!first || !last || last->at <= first->at) return 0;
  return (last->ok - first->ok) / std::chrono::duration<double>(last->at - first->at).count() * 60;
}

bool every_id_once(RedisConnection& redis, int n) {
  const RedisReply keys = redis.command({"HKEYS", "results"});
  std::set<std::string> ids;
  for (std::size_t i = 0; i < keys.size(); ++i) ids.insert(keys.at(i).text());
  if (ids.size() != static_cast<std::size_t>(n) || keys.size() != static_cast<std::size_t>(n)) return false;
  for (int i = 1; i <= n; ++i)
    if (!ids.contains(fmt::format("i{}", i))) return false;
  return true;
}

void fill_stream(RedisConnection& redis, int n) {
  std::vector<std::vector<std::string>> adds;
  for (int i = 1; i <= n; ++i)
    adds.push_back({"XADD", "jobs", "*", "id", fmt::format("i{}", i), "text", fmt::format("question number {}", i)});
  redis.pipeline(adds);
}

void scenario(const fs::path& base, const Options& o, int workers) {
  const fs::path dir = base / fmt::format("workers-{}", workers);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const int n = static_cast<int>(o.rpm * o.seconds / 60);
  Served redis =
      serve({find_program("redis-server"), "--save", "", "--appendonly", "no", "--port"}, {}, dir / "redis.log");
  Served mock = serve(
      {FLOWBATCH_MOCK_BINARY, "--port"},
      {"--rpm", fmt::format("{:.0f}", o.rpm), "--rolling-window-seconds", "5", "--latency-ms", "50", "--threads", "1"},
      dir / "mock.log");
  const std::string redis_url = fmt::format("redis://127.0.0.1:{}/0", redis.port);
  const std::string mock_url = fmt::format("http://127.0.0.1:{}", mock.port);
  RedisAddress address;
  address.host = "127.0.0.1";
  address.port = redis.port;
  RedisConnection client(address, std::chrono::milliseconds(5000));
  fill_stream(client, n);
  std::ofstream(dir / "worker.toml") << worker_graph(redis_url, mock_url, o.rpm);

  auto start_worker = [&](int w) {
    return std::make_unique<Background>(
        std::vector<std::string>{
            FLOWBATCH_BINARY, "run", (dir / "worker.toml").string(), "--set",
            fmt::format("pipeline.state={}", (dir / fmt::format("w{}.db", w)).string()), "--set",
            fmt::format("dead_letters.failed.path={}", (dir / fmt::format("failed{}.jsonl", w)).string())},
        dir / fmt::format("worker{}.log", w));
  };
  std::vector<std::unique_ptr<Background>> running;
  const auto started = Clock::now();
  for (int w = 1; w <= workers; ++w) running.push_back(start_worker(w));
  const auto stats = [&] { return boost::json::parse(http_get(mock_url + "/stats")).as_object(); };
  std::vector<Sample> samples;
  bool killed = false;
  Clock::time_point killed_at{};
  Clock::time_point finished{};
  const auto deadline = started + std::chrono::duration<double>(o.seconds * 4 + 60);
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    samples.push_back(Sample{Clock::now(), status_count(stats(), "200")});
    const long long done = client.command({"HLEN", "results"}).integer();
    if (!killed && done >= n / 2) {
      running.front()->kill_now();  // kill -9, mid-run
      killed = true;
      killed_at = Clock::now();
      if (workers == 1) running.push_back(start_worker(workers + 1));  // a replacement finishes the job
    }
    if (done >= n) {
      finished = Clock::now();
      break;
    }
  }
  running.clear();  // SIGTERM: the survivors drain and stop
  const auto last = stats();
  const int requests = last.at("requests").to_number<int>();
  const int refused = status_count(last, "429");
  const int ok = status_count(last, "200");
  const double whole =
      finished == Clock::time_point{} ? 0 : ok / std::chrono::duration<double>(finished - started).count() * 60;
  // The kill's cost (reserved slots lost, a replacement starting) stays out of "before" and "after".
  const double before = rate_between(samples, n / 10, n / 2 - n / 20);
  const double after = rate_between(samples, 0, n * 9 / 10, killed_at + std::chrono::seconds(3));
  const double middle = rate_between(samples, n / 10, n * 9 / 10);
  fmt::print(
      "{} worker{}: {} ids; ok requests/min against the limit {:.0f}/min: {:.1f}% before the kill, {:.1f}% after "
      "it (from 3 s on), {:.1f}% over the middle 80% of the answers, {:.1f}% over the whole run (start-up and tail "
      "included); 429s {} of {} answers = {:.2f}%; every id once in the hash: {}\n",
      workers, workers == 1 ? " (killed, then replaced)" : "s (one killed)", n, o.rpm, 100 * before / o.rpm,
      100 * after / o.rpm, 100 * middle / o.rpm, 100 * whole / o.rpm, refused, requests,
      100.0 * refused / std::max(1, requests), every_id_once(client, n) ? "yes" : "NO");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rpm")) o.rpm = std::stod(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) o.seconds = std::stod(argv[i + 1]);
    if (!std::strcmp(argv[i], "--workers")) {
      o.workers.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string w; std::getline(list, w, ',');) o.workers.push_back(std::stoi(w));
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (find_program("redis-server").empty()) {
    fmt::print("bench_scale needs redis-server (make deps installs it)\n");
    return 1;
  }
  try {
    const fs::path dir = scratch_dir("scale");
    fmt::print("bench_scale  rev {}  {} cores  scratch {}\n", git_revision(), std::thread::hardware_concurrency(),
               dir.string());
    fmt::print(
        "server: {:.0f} requests/min, counted over any rolling 5 s; 50 ms latency; each run {:.0f} s at the "
        "limit\n\n",
        o.rpm, o.seconds);
    for (int workers : o.workers) scenario(dir, o, workers);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_scale: {}\n", e.what());
    return 1;
  }
  return 0;
}
