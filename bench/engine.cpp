// bench/engine: the engine's own overhead. N generated items through
//   jsonl source -> batch(50) -> call(mock provider: zero latency, no failures) -> jsonl sink
// run by the real flowbatch program (wall time, CPU, peak RSS), next to a bare tbb::flow pipeline
// of the same shape built here, so the numbers compare as ratios measured in one run.
//
// Then the same 1M items with the run's state (resume) and commits every second against no state
// and one sync at the end, in alternated pairs: the cost of crash safety.
//
//   build/bench/bench_engine [--items 1000000] [--small 100000]
#include <fmt/format.h>
#include <oneapi/tbb/flow_graph.h>
#include <boost/json.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "bench/support.h"
#include "engine/io/line_reader.h"

using namespace flowbatch;
using namespace flowbatch::bench;
namespace fs = std::filesystem;

namespace {

fs::path make_input(const fs::path& dir, std::size_t n) {
  const fs::path file = dir / fmt::format("items-{}.jsonl", n);
  if (fs::exists(file)) return file;
  std::FILE* f = std::fopen(file.c_str(), "w");
  static const char* kCategories[] = {"billing", "shipping", "technical"};
  for (std::size_t i = 1; i <= n; ++i)
    std::fprintf(f,
                 "{\"id\":\"i%zu\",\"category\":\"%s\",\"text\":\"ticket %zu: the parcel did not arrive and I want a "
                 "refund\"}\n",
                 i, kCategories[i % 3], i);
  std::fclose(f);
  return file;
}

fs::path make_graph(const fs::path& dir, const fs::path& input) {
  const fs::path graph = dir / "engine.toml";
  std::ofstream(graph) << fmt::format(R"(
[pipeline]
name = "bench_engine"
progress = "off"

[providers.sim]
type = "mock"
max_concurrency = 64

[sources.items]
path = "{}"
id_field = "id"

[batches.b]
inputs = ["items"]
max_items = 50

[calls.c]
inputs = ["b"]
provider = "sim"
model = "m"
prompt = "{{{{text}}}}"

[sinks.out]
inputs = ["c"]
path = "out.jsonl"
flush_every = 1000000
flush_interval_ms = 1000
)",
                                      input.string());
  return graph;
}

/// The same shape with nothing of flowbatch but its line reader: one message per item.
double bare_tbb(const fs::path& input, const fs::path& output) {
  namespace flow = oneapi::tbb::flow;
  using Items = std::shared_ptr<std::vector<boost::json::object>>;
  const auto start = std::chrono::steady_clock::now();
  LineReader reader(input);
  std::FILE* out = std::fopen(output.c_str(), "w");
  flow::graph g;
  flow::input_node<std::string> source(g, [&](oneapi::tbb::flow_control& fc) {
    std::string line;
    std::uint64_t n;
    if (!reader.next(line, n)) fc.stop();
    return line;
  });
  flow::function_node<std::string, boost::json::object> parse(
      g, flow::unlimited, [](const std::string& line) { return boost::json::parse(line).as_object(); });
  Items pending = std::make_shared<std::vector<boost::json::object>>();
  flow::function_node<boost::json::object, Items> batch(g, flow::serial, [&](const boost::json::object& o) {
    pending->push_back(o);
    if (pending->size() < 50) return Items{};
    Items full = std::move(pending);
    pending = std::make_shared<std::vector<boost::json::object>>();
    return full;
  });
  flow::function_node<Items, Items> call(g, flow::unlimited, [](const Items& items) {
    if (items)
      for (auto& o : *items) {
        std::string prompt(o.at("text").as_string());
        o["output"] = fmt::format("mock reply {:016x}", std::hash<std::string>{}(prompt));
      }
    return items;
  });
  std::string buffer;
  flow::function_node<Items> sink(g, flow::serial, [&](const Items& items) {
    if (!items) return flow::continue_msg();
    for (const auto& o : *items) {
      buffer += boost::json::serialize(o);
      buffer += '\n';
    }
    if (buffer.size() > (1 << 20)) {
      std::fwrite(buffer.data(), 1, buffer.size(), out);
      buffer.clear();
    }
    return flow::continue_msg();
  });
  flow::make_edge(source, parse);
  flow::make_edge(parse, batch);
  flow::make_edge(batch, call);
  flow::make_edge(call, sink);
  source.activate();
  g.wait_for_all();
  for (auto& o : *pending) buffer += boost::json::serialize(o) + "\n";
  std::fwrite(buffer.data(), 1, buffer.size(), out);
  std::fclose(out);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::size_t count_lines(const fs::path& file) {
  std::ifstream in(file);
  return static_cast<std::size_t>(
      std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t large = 1'000'000, small = 100'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--items")) large = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--small")) small = std::stoul(argv[i + 1]);
  }
  const fs::path dir = scratch_dir("engine");
  fmt::print("bench_engine  rev {}  {} cores  scratch {}\n", git_revision(), std::thread::hardware_concurrency(),
             dir.string());
  fmt::print("{:>10} {:>10} {:>12} {:>9} {:>10} {:>12} {:>10} {:>12}\n", "items", "flowbatch", "items/s", "cpu s",
             "peak RSS", "bare tbb", "items/s", "flowbatch/bare");
  for (std::size_t n : {small, large}) {
    const fs::path input = make_input(dir, n);
    const fs::path graph = make_graph(dir, input);
    const Measured m = run_measured({FLOWBATCH_BINARY, "run", graph.string(), "--set", "pipeline.state=none"}, dir);
    const std::size_t written = count_lines(dir / "out.jsonl");
    if (m.exit_code != 0 || written != n) {
      fmt::print(stderr, "flowbatch failed: exit {}, {} of {} items written\n", m.exit_code, written, n);
      return 1;
    }
    const double bare = bare_tbb(input, dir / "bare.jsonl");
    const double rate = static_cast<double>(n) / m.seconds;
    const double bare_rate = static_cast<double>(n) / bare;
    fmt::print("{:>10} {:>9.2f}s {:>12.0f} {:>9.2f} {:>7.1f} MB {:>9.2f}s {:>12.0f} {:>12.2f}\n", n, m.seconds, rate,
               m.cpu_seconds, static_cast<double>(m.peak_rss_kb) / 1024.0, bare, bare_rate, rate / bare_rate);
  }

  // Crash safety: state (completed records, sink positions) and a commit (fsync + transaction)
  // every second, against no state and one sync at the end. Alternated pairs, so both see the
  // same machine load; the medians are compared (wall time and CPU time).
  const fs::path input = make_input(dir, large);
  const fs::path graph = make_graph(dir, input);
  constexpr int kPairs = 7;
  std::vector<double> wall_without, wall_with, cpu_without, cpu_with;
  for (int i = 0; i < kPairs; ++i) {
    const Measured plain = run_measured({FLOWBATCH_BINARY, "run", graph.string(), "--set", "pipeline.state=none"}, dir);
    fs::remove_all(dir / ".flowbatch");  // a new state each time (--fresh would keep archives)
    const Measured safe = run_measured({FLOWBATCH_BINARY, "run", graph.string()}, dir);
    if (plain.exit_code != 0 || safe.exit_code != 0) {
      fmt::print(stderr, "flowbatch failed: exit {} without state, {} with state\n", plain.exit_code, safe.exit_code);
      return 1;
    }
    wall_without.push_back(plain.seconds);
    wall_with.push_back(safe.seconds);
    cpu_without.push_back(plain.cpu_seconds);
    cpu_with.push_back(safe.cpu_seconds);
  }
  const double w0 = median(wall_without), w1 = median(wall_with), c0 = median(cpu_without), c1 = median(cpu_with);
  fmt::print("\n{} items, median of {} alternated runs each\n", large, kPairs);
  fmt::print("{:>40} {:>12} {:>10}\n", "items/s", "wall s", "cpu s");
  fmt::print("{:<28} {:>12.0f} {:>12.2f} {:>10.2f}\n", "without state", static_cast<double>(large) / w0, w0, c0);
  fmt::print("{:<28} {:>12.0f} {:>12.2f} {:>10.2f}\n", "state + commit every second", static_cast<double>(large) / w1,
             w1, c1);
  fmt::print("throughput with / without = {:.3f}   cpu with / without = {:.3f}\n", w0 / w1, c1 / c0);
  return 0;
}
