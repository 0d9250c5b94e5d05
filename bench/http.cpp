// bench/http: flowbatch's HTTP path against a loopback endpoint, measured in one run.
//
//  1. Throughput: the same endpoint answering a canned completion (nginx when installed, else
//     flowbatch-mock), hit by wrk with C connections, then by flowbatch running N OpenAI Batch API
//     lines with max_concurrency = C. Reports both rates, their ratio and flowbatch's CPU per request.
//  2. Concurrency: flowbatch-mock answering after exactly 200 ms, flowbatch at max_concurrency = 512:
//     the achieved rate against the ideal 512 / 0.2 s = 2,560 requests/s.
//
//   build/bench/bench_http [--lines 200000] [--connections 64] [--seconds 10] [--slow-requests 100000]
#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <regex>
#include <thread>

#include "bench/support.h"

using namespace flowbatch::bench;
namespace fs = std::filesystem;

namespace {

constexpr const char* kCanned =
    R"({"id":"chatcmpl-canned","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"canned answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}})";
constexpr const char* kBody =
    R"({"model":"m","max_tokens":16,"messages":[{"role":"user","content":"Say hello in one word."}]})";

struct Endpoint {
  std::string name;
  std::string base_url;
  std::unique_ptr<Background> process;
};

Endpoint start_nginx(const fs::path& dir, const std::string& nginx) {
  const int port = free_port();
  for (const char* sub : {"body", "proxy", "fcgi", "uwsgi", "scgi"}) fs::create_directories(dir / sub);
  const fs::path conf = dir / "nginx.conf";
  std::ofstream(conf) << fmt::format(R"(worker_processes 1;
daemon off;
master_process off;
pid {0}/nginx.pid;
error_log {0}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path {0}/body;
  proxy_temp_path {0}/proxy;
  fastcgi_temp_path {0}/fcgi;
  uwsgi_temp_path {0}/uwsgi;
  scgi_temp_path {0}/scgi;
  server {{
    listen 127.0.0.1:{1};
    location / {{
      default_type application/json;
      return 200 '{2}';
    }}
  }}
}}
)",
                                     dir.string(), port, kCanned);
  Endpoint e{"nginx (canned completion)", fmt::format("http://127.0.0.1:{}/v1", port),
             std::make_unique<Background>(std::vector<std::string>{nginx, "-c", conf.string(), "-p", dir.string()},
                                          dir / "nginx.log")};
  if (!wait_for_port(port)) throw std::runtime_error("nginx did not start; see " + (dir / "nginx-error.log").string());
  return e;
}

Endpoint start_mock(const fs::path& dir, const std::vector<std::string>& flags, const std::string& name) {
  const int port = free_port();
  std::vector<std::string> argv = {FLOWBATCH_MOCK_BINARY, "--port", std::to_string(port)};
  argv.insert(argv.end(), flags.begin(), flags.end());
  Endpoint e{name, fmt::format("http://127.0.0.1:{}/v1", port), std::make_unique<Background>(argv, dir / "mock.log")};
  if (!wait_for_port(port)) throw std::runtime_error("flowbatch-mock did not start");
  return e;
}

fs::path write_batch_lines(const fs::path& dir, std::size_t n) {
  const fs::path file = dir / fmt::format("batch-{}.jsonl", n);
  if (fs::exists(file)) return file;
  std::ofstream out(file);
  for (std::size_t i = 1; i <= n; ++i)
    out << R"({"custom_id":"r)" << i << R"(","method":"POST","url":"/v1/chat/completions","body":)" << kBody << "}\n";
  return file;
}

fs::path write_graph(const fs::path& dir, const fs::path& input, const std::string& base_url, std::size_t concurrency) {
  const fs::path graph = dir / "http.toml";
  std::ofstream(graph) << fmt::format(R"(
[pipeline]
name = "bench_http"
progress = "off"
max_in_flight = {2}

[providers.api]
type = "openai"
base_url = "{0}"
api_key_env = ""
max_concurrency = {1}

[sources.requests]
type = "openai_batch"
path = "{3}"

[calls.send]
inputs = ["requests"]
provider = "api"

[dead_letters.errors]
inputs = ["send.error", "requests.invalid"]
format = "openai_batch"
path = "errors.jsonl"

[sinks.output]
inputs = ["send"]
type = "openai_batch"
path = "output.jsonl"
flush_every = 100000
)",
                                      base_url, concurrency, std::max<std::size_t>(10000, concurrency * 8),
                                      input.string());
  return graph;
}

double wrk_rate(const std::string& wrk, const fs::path& dir, const std::string& url, std::size_t connections,
                int seconds) {
  const fs::path script = dir / "post.lua";
  std::ofstream(script) << "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '"
                        << kBody << "'\n";
  int code = 0;
  const std::string out = run_capture(
      {wrk, "-t1", fmt::format("-c{}", connections), fmt::format("-d{}s", seconds), "-s", script.string(), url}, &code);
  std::smatch m;
  if (code != 0 || !std::regex_search(out, m, std::regex(R"(Requests/sec:\s+([0-9.]+))")))
    throw std::runtime_error("wrk failed:\n" + out);
  return std::stod(m[1]);
}

std::size_t count_lines(const fs::path& file) {
  std::ifstream in(file);
  return static_cast<std::size_t>(
      std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
}

Measured run_flowbatch(const fs::path& dir, const fs::path& graph, std::size_t expected) {
  fs::remove(dir / "output.jsonl");
  const Measured m = run_measured({FLOWBATCH_BINARY, "run", graph.string()}, dir, dir / "flowbatch.log");
  const std::size_t written = count_lines(dir / "output.jsonl");
  if (m.exit_code != 0 || written != expected)
    throw std::runtime_error(fmt::format("flowbatch: exit {}, {} of {} answers (see {})", m.exit_code, written,
                                         expected, (dir / "flowbatch.log").string()));
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t lines = 200'000, connections = 64, slow_requests = 100'000;
  int seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--lines")) lines = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--connections")) connections = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--slow-requests")) slow_requests = std::stoul(argv[i + 1]);
  }
  try {
    const fs::path dir = scratch_dir("http");
    fmt::print("bench_http  rev {}  {} cores  scratch {}\n\n", git_revision(), std::thread::hardware_concurrency(),
               dir.string());

    // 1. Throughput against a canned completion.
    const std::string nginx = find_program("nginx");
    const std::string wrk = find_program("wrk");
    Endpoint canned =
        !nginx.empty() ? start_nginx(dir, nginx) : start_mock(dir, {"--threads", "1"}, "flowbatch-mock (no latency)");
    const fs::path input = write_batch_lines(dir, lines);
    fmt::print("1. throughput against {}, {} connections\n", canned.name, connections);
    double wrk_rps = 0;
    if (!wrk.empty()) {
      wrk_rps = wrk_rate(wrk, dir, canned.base_url + "/chat/completions", connections, seconds);
      fmt::print("   wrk -t1 -c{} -d{}s:            {:>9.0f} requests/s\n", connections, seconds, wrk_rps);
    } else {
      fmt::print("   wrk is not installed (apt-get install wrk): no baseline\n");
    }
    const Measured m = run_flowbatch(dir, write_graph(dir, input, canned.base_url, connections), lines);
    const double rps = static_cast<double>(lines) / m.seconds;
    fmt::print(
        "   flowbatch, {} batch lines:  {:>9.0f} requests/s  ({:.2f} s, {:.1f} us CPU per request, peak RSS {:.0f} "
        "MB)\n",
        lines, rps, m.seconds, m.cpu_seconds / static_cast<double>(lines) * 1e6,
        static_cast<double>(m.peak_rss_kb) / 1024);
    if (wrk_rps > 0) fmt::print("   flowbatch / wrk:               {:>9.2f}   (target >= 0.40)\n", rps / wrk_rps);
    canned.process.reset();

    // 2. Concurrency against a slow server.
    Endpoint slow =
        start_mock(dir, {"--latency-ms", "200", "--latency-sigma", "0", "--threads", "1"}, "flowbatch-mock, 200 ms");
    const fs::path slow_input = write_batch_lines(dir, slow_requests);
    const Measured s = run_flowbatch(dir, write_graph(dir, slow_input, slow.base_url, 512), slow_requests);
    const double slow_rps = static_cast<double>(slow_requests) / s.seconds;
    fmt::print("\n2. {} requests to {} at max_concurrency = 512\n", slow_requests, slow.name);
    fmt::print("   achieved {:.0f} requests/s of the ideal 2,560: {:.1f}%   (target >= 95%; {:.2f} s, {:.0f} MB)\n",
               slow_rps, 100.0 * slow_rps / 2560.0, s.seconds, static_cast<double>(s.peak_rss_kb) / 1024);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_http: {}\n", e.what());
    return 1;
  }
}
