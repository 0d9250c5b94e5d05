// bench/http: flowbatch's HTTP path against a loopback endpoint, measured in one run.
//
//  1. Throughput: one endpoint answering a canned completion (nginx when installed, else
//     flowbatch-mock), hit in turn by a bare libcurl multi loop (the reference: N requests, C at a
//     time, the body prepared in advance, easy handles reused) and by flowbatch running N OpenAI
//     Batch API lines with max_concurrency = C, for some rounds; then by wrk if installed. Reports
//     requests/s, CPU per request and peak RSS of both, and flowbatch's ratios to the bare loop.
//  2. Concurrency: flowbatch-mock answering after exactly 200 ms, flowbatch at max_concurrency = 512:
//     the achieved rate against the ideal 512 / 0.2 s = 2,560 requests/s.
//
//   build/bench/bench_http [--lines 200000] [--connections 64] [--rounds 3] [--seconds 10]
//                          [--slow-requests 100000]
#include <curl/curl.h>
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
  const Measured m = run_measured({FLOWBATCH_BINARY, "run", graph.string(), "--fresh"}, dir, dir / "flowbatch.log");
  const std::size_t written = count_lines(dir / "output.jsonl");
  if (m.exit_code != 0 || written != expected)
    throw std::runtime_error(fmt::format("flowbatch: exit {}, {} of {} answers (see {})", m.exit_code, written,
                                         expected, (dir / "flowbatch.log").string()));
  return m;
}

/// The in-run reference: a bare libcurl multi loop sending `requests` POSTs of one body prepared in
/// advance, `concurrency` at a time, each easy handle set up once and reused (only removed from
/// and added to the multi handle between its requests). Every answer's body is kept until the
/// next one, as a client would read it. Runs in a process of its own (bench_http --bare-loop), so
/// that its CPU time and peak RSS are measured exactly as flowbatch's are (wait4).
int bare_loop(const std::string& url, std::size_t requests, std::size_t concurrency) {
  struct Slot {
    CURL* easy = nullptr;
    std::string answer;
  };
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(concurrency));
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  const std::string body = kBody;
  auto on_body = +[](char* data, std::size_t size, std::size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
  };
  std::vector<Slot> slots(std::min(concurrency, requests));
  std::size_t started = 0, ok = 0, failed = 0;
  for (Slot& s : slots) {
    s.easy = curl_easy_init();
    curl_easy_setopt(s.easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(s.easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(s.easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, &s.answer);
    curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
    curl_multi_add_handle(multi, s.easy);
    ++started;
  }
  int running = 1;
  while (ok + failed < requests) {
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Slot* s = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &s);
      long status = 0;
      curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
      (msg->data.result == CURLE_OK && status == 200 && !s->answer.empty() ? ok : failed) += 1;
      s->answer.clear();
      curl_multi_remove_handle(multi, s->easy);
      if (started < requests) {
        curl_multi_add_handle(multi, s->easy);
        ++started;
      }
    }
    if (ok + failed < requests) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  for (Slot& s : slots) curl_easy_cleanup(s.easy);
  curl_slist_free_all(headers);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  std::printf("%zu ok, %zu failed\n", ok, failed);
  return failed == 0 ? 0 : 1;
}

/// One program's run of part 1: its rate, CPU per request and peak RSS.
struct Figures {
  double rps = 0, cpu_us = 0, rss_mb = 0;
};

Figures figures_of(const Measured& m, std::size_t requests) {
  const auto n = static_cast<double>(requests);
  return {n / m.seconds, m.cpu_seconds / n * 1e6, static_cast<double>(m.peak_rss_kb) / 1024};
}

Figures run_bare(const fs::path& dir, const std::string& url, std::size_t requests, std::size_t connections) {
  const Measured m =
      run_measured({"/proc/self/exe", "--bare-loop", url, std::to_string(requests), std::to_string(connections)}, dir,
                   dir / "bare.log");
  if (m.exit_code != 0)
    throw std::runtime_error(
        fmt::format("the bare libcurl loop failed (exit {}; see {})", m.exit_code, (dir / "bare.log").string()));
  return figures_of(m, requests);
}

void print_figures(const char* who, const Figures& f) {
  fmt::print("   {:<20} {:>9.0f} requests/s  {:>6.1f} us CPU per request  peak RSS {:>5.1f} MB\n", who, f.rps, f.cpu_us,
             f.rss_mb);
}

Figures median_of(const std::vector<Figures>& runs) {
  std::vector<double> rps, cpu, rss;
  for (const Figures& f : runs) {
    rps.push_back(f.rps);
    cpu.push_back(f.cpu_us);
    rss.push_back(f.rss_mb);
  }
  return {median(rps), median(cpu), median(rss)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && !std::strcmp(argv[1], "--bare-loop"))
    return bare_loop(argv[2], std::stoul(argv[3]), std::stoul(argv[4]));
  std::size_t lines = 200'000, connections = 64, slow_requests = 100'000, rounds = 3;
  int seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--lines")) lines = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--connections")) connections = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::max<std::size_t>(1, std::stoul(argv[i + 1]));
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--slow-requests")) slow_requests = std::stoul(argv[i + 1]);
  }
  try {
    const fs::path dir = scratch_dir("http");
    fmt::print("bench_http  rev {}  {} cores  scratch {}\n\n", git_revision(), std::thread::hardware_concurrency(),
               dir.string());

    // 1. Throughput against a canned completion: the bare loop and flowbatch in turn.
    const std::string nginx = find_program("nginx");
    const std::string wrk = find_program("wrk");
    Endpoint canned =
        !nginx.empty() ? start_nginx(dir, nginx) : start_mock(dir, {"--threads", "1"}, "flowbatch-mock (no latency)");
    const fs::path input = write_batch_lines(dir, lines);
    const fs::path graph = write_graph(dir, input, canned.base_url, connections);
    const std::string url = canned.base_url + "/chat/completions";
    fmt::print("1. throughput against {}: {} requests, {} in flight, {} rounds\n", canned.name, lines, connections,
               rounds);
    std::vector<Figures> bare, flowbatch;
    for (std::size_t r = 1; r <= rounds; ++r) {
      bare.push_back(run_bare(dir, url, lines, connections));
      flowbatch.push_back(figures_of(run_flowbatch(dir, graph, lines), lines));
      print_figures(fmt::format("round {}, bare loop", r).c_str(), bare.back());
      print_figures(fmt::format("round {}, flowbatch", r).c_str(), flowbatch.back());
    }
    const Figures b = median_of(bare), f = median_of(flowbatch);
    print_figures("median, bare loop", b);
    print_figures("median, flowbatch", f);
    fmt::print(
        "   flowbatch / bare: CPU per request {:.2f}x (target <= 2), requests/s {:.2f}x (target >= 0.6), "
        "peak RSS {:.1f} MB (target <= 64)\n",
        f.cpu_us / b.cpu_us, f.rps / b.rps, f.rss_mb);
    if (!wrk.empty()) {
      const double wrk_rps = wrk_rate(wrk, dir, url, connections, seconds);
      fmt::print("   wrk -t1 -c{} -d{}s: {:.0f} requests/s; flowbatch / wrk {:.2f}\n", connections, seconds, wrk_rps,
                 f.rps / wrk_rps);
    }
    canned.process.reset();

    // 2. Concurrency against a slow server.
    if (slow_requests == 0) return 0;
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
