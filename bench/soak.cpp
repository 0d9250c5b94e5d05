// bench/soak: a long run against a faulty server, killed with SIGKILL every few minutes and
// resumed each time, as a production job on a bad day. Not run by CI (it takes half an hour).
//
// flowbatch-mock answers with 5% 5xx, 2% connection resets, 1% 200s whose body stops short of
// its Content-Length, 1% 200s with a broken JSON body, 0.5% requests never answered, and 429s
// whenever flowbatch goes faster than the server's per-minute limit (it is told 25% more). The
// graph caches answers (cache = true), so a kill costs at most the requests in flight.
//
// Printed: every sample of the program's resident memory and open descriptors (RSS must stay
// flat after warm-up, descriptors must not grow), each kill, and at the end whether every id is
// in the outputs exactly once, plus the request amplification (requests the server saw per item)
// and the answers the server gave twice.
//
//   build/bench/bench_soak [--minutes 30] [--kill-every 300] [--rpm 6000]
#include <fmt/format.h>
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "bench/support.h"

using namespace flowbatch::bench;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Settings {
  double minutes = 30;
  double kill_every_s = 300;
  double rpm = 6000;
};

struct Sample {
  double at_s;  // since the soak started
  int segment;
  double rss_mb;
  int fds;
};

std::string read_status_field(int pid, const char* field) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return line.substr(std::strlen(field));
  return {};
}

/// Resident memory (MB) and open descriptors of a running process; nothing once it is gone.
std::optional<Sample> sample(int pid, double at_s, int segment) {
  const std::string rss = read_status_field(pid, "VmRSS:");
  if (rss.empty()) return std::nullopt;
  std::error_code ec;
  int fds = 0;
  for (auto it = fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    ++fds;
  return Sample{at_s, segment, std::stod(rss) / 1024.0, fds};
}

fs::path write_items(const fs::path& dir, std::size_t n) {
  const fs::path file = dir / "items.jsonl";
  std::ofstream out(file);
  for (std::size_t i = 1; i <= n; ++i)
    out << fmt::format(R"({{"id":"s{}","text":"support ticket number {}: my order has not arrived"}})", i, i) << "\n";
  return file;
}

fs::path write_graph(const fs::path& dir, const std::string& base_url, const Settings& s) {
  const fs::path graph = dir / "soak.toml";
  std::ofstream(graph) << fmt::format(R"(
[pipeline]
name = "soak"
progress = "off"
shutdown_grace_ms = 2000
[providers.api]
type = "openai"
base_url = "{}/v1"
api_key_env = ""
max_concurrency = 32
requests_per_minute = {}
timeout_ms = 3000
[sources.items]
path = "items.jsonl"
id_field = "id"
[calls.answer]
inputs = ["items", "again"]
provider = "api"
model = "soak"
prompt = "{{{{text}}}}"
cache = true
[retries.again]
inputs = ["answer.error"]
max_attempts = 10
initial_backoff_ms = 200
max_backoff_ms = 5000
[dead_letters.failed]
inputs = ["again.exhausted", "items.invalid"]
path = "out/failed.jsonl"
[sinks.results]
inputs = ["answer"]
path = "out/results.jsonl"
)",
                                      base_url, s.rpm * 1.25);
  return graph;
}

/// Counts each id over the outputs; returns (distinct ids, lines, ids seen more than once).
std::tuple<std::size_t, std::size_t, std::size_t> count_ids(const std::vector<fs::path>& files) {
  std::map<std::string, int> seen;
  std::size_t lines = 0;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      ++lines;
      const auto v = boost::json::parse(line);
      ++seen[std::string(v.at("id").as_string())];
    }
  }
  const auto twice =
      static_cast<std::size_t>(std::count_if(seen.begin(), seen.end(), [](const auto& kv) { return kv.second > 1; }));
  return {seen.size(), lines, twice};
}

void print_segment_summary(const std::vector<Sample>& samples, int segments) {
  fmt::print("\nper run (after 60 s of warm-up):\n");
  for (int seg = 1; seg <= segments; ++seg) {
    double start = -1, lo = 1e9, hi = 0;
    int fd_lo = 1 << 30, fd_hi = 0;
    for (const auto& s : samples) {
      if (s.segment != seg) continue;
      if (start < 0) start = s.at_s;
      if (s.at_s - start < 60) continue;
      lo = std::min(lo, s.rss_mb);
      hi = std::max(hi, s.rss_mb);
      fd_lo = std::min(fd_lo, s.fds);
      fd_hi = std::max(fd_hi, s.fds);
    }
    if (hi == 0) {
      fmt::print("  run {}: shorter than the warm-up\n", seg);
      continue;
    }
    fmt::print("  run {}: RSS {:.1f}..{:.1f} MB (spread {:.1f} MB), descriptors {}..{}\n", seg, lo, hi, hi - lo, fd_lo,
               fd_hi);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--minutes")) s.minutes = std::stod(argv[i + 1]);
    if (!std::strcmp(argv[i], "--kill-every")) s.kill_every_s = std::stod(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rpm")) s.rpm = std::stod(argv[i + 1]);
  }
  try {
    const fs::path dir = scratch_dir("soak");
    fs::remove_all(dir / "out");
    fs::remove_all(dir / ".flowbatch");
    // Sized to last about the whole soak: the server's rate, less what retries take.
    const auto items = static_cast<std::size_t>(s.rpm * s.minutes * 0.85);
    write_items(dir, items);
    const int port = free_port();
    const std::string base = fmt::format("http://127.0.0.1:{}", port);
    Background mock({FLOWBATCH_MOCK_BINARY, "--port", std::to_string(port), "--latency-ms", "60", "--rpm",
                     fmt::format("{}", s.rpm), "--error-rate", "0.05", "--reset-rate", "0.02", "--truncate-rate",
                     "0.01", "--malformed-rate", "0.01", "--hang-rate", "0.005", "--seed", "42"},
                    dir / "mock.log");
    if (!wait_for_port(port)) throw std::runtime_error("flowbatch-mock did not start");
    const fs::path graph = write_graph(dir, base, s);
    fmt::print("bench_soak  rev {}  {} items  {:.0f} min, SIGKILL every {:.0f} s  server {:.0f}/min  scratch {}\n",
               git_revision(), items, s.minutes, s.kill_every_s, s.rpm, dir.string());
    fmt::print("{:>7} {:>4} {:>8} {:>4}\n", "time s", "run", "RSS MB", "fds");

    const auto t0 = Clock::now();
    auto since = [&](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
    std::vector<Sample> samples;
    int segment = 0, kills = 0, exit_code = -1;
    bool finished = false;
    while (!finished && since(t0) < s.minutes * 60 * 2) {  // twice the planned time: give up
      ++segment;
      Background run({FLOWBATCH_BINARY, graph.string()}, dir / fmt::format("run-{}.log", segment));
      const auto started = Clock::now();
      double next_print = 0;
      for (;;) {
        if (run.ended(exit_code)) break;
        if (auto x = sample(run.pid(), since(t0), segment)) {
          samples.push_back(*x);
          if (x->at_s >= next_print) {
            fmt::print("{:>7.0f} {:>4} {:>8.1f} {:>4}\n", x->at_s, segment, x->rss_mb, x->fds);
            next_print = x->at_s + 30;
          }
        }
        if (since(started) >= s.kill_every_s && since(t0) < s.minutes * 60 - 60) {
          run.kill_now();
          ++kills;
          fmt::print("{:>7.0f}  kill -9 #{}\n", since(t0), kills);
          exit_code = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::seconds(5));
      }
      if (exit_code == 0 || exit_code == 3) finished = true;
      else if (exit_code != -1)
        fmt::print("{:>7.0f}  run {} exited with {} (see run-{}.log); resuming\n", since(t0), segment, exit_code,
                   segment);
    }
    print_segment_summary(samples, segment);

    const auto [distinct, lines, twice] = count_ids({dir / "out/results.jsonl", dir / "out/failed.jsonl"});
    const auto stats = boost::json::parse(http_get(base + "/stats")).as_object();
    const auto requests = stats.at("requests").to_number<double>();
    fmt::print("\n{} in {:.1f} min, {} runs, {} kills (last exit code {})\n", finished ? "finished" : "NOT FINISHED",
               since(t0) / 60, segment, kills, exit_code);
    fmt::print("ids: {} of {} present, {} lines, {} ids more than once -> {}\n", distinct, items, lines, twice,
               distinct == items && lines == items ? "every id exactly once" : "FAILED");
    fmt::print("requests at the server: {:.0f} ({:.3f} per item); answered twice: {}; faults: {}\n", requests,
               requests / static_cast<double>(items), boost::json::serialize(stats.at("repeated_answers")),
               boost::json::serialize(stats.at("faults")));
    fmt::print("429s: {}\n", stats.at("by_status").as_object().contains("429")
                                 ? boost::json::serialize(stats.at("by_status").at("429"))
                                 : "0");
    return finished && distinct == items && lines == items ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_soak: {}\n", e.what());
    return 1;
  }
}
