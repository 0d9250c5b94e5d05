// Every example in graphs/ must stay valid and keep running: each is copied with its data to a
// temporary folder and run by the built program.
#include <doctest/doctest.h>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {
/// A copy of graphs/ (examples and data) in a temporary folder.
void copy_graphs(const TempDir& dir) {
  fs::copy(source_path("graphs"), dir.path(), fs::copy_options::recursive | fs::copy_options::skip_existing);
  fs::remove_all(dir / "out");  // results and state of runs made in the source tree
  fs::remove_all(dir / ".flowbatch");
}

/// --set overrides that point every HTTP provider of a graph at the mock server (the examples
/// are written for the real APIs).
std::vector<std::string> at_mock(const fs::path& graph, const MockServer& server) {
  Redactor redactor;
  CompileOptions options;
  options.check_environment = false;
  CompileResult r = compile_file(graph, plugin_registry(), redactor, options);
  REQUIRE_MESSAGE(r.plan, r.diagnostics.str());
  std::vector<std::string> overrides;
  for (const auto& p : r.plan->providers)
    if (p.type == "openai" || p.type == "anthropic")
      overrides.push_back("providers." + p.name + ".base_url=" + server.base_url());
  return overrides;
}

std::vector<fs::path> example_graphs() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(source_path("graphs")))
    if (e.path().extension() == ".toml") out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_CASE("every example graph validates without errors") {
  const auto graphs = example_graphs();
  REQUIRE(!graphs.empty());
  for (const auto& g : graphs) {
    // Our own graphs: trusted, so their plugins are loaded and checked too.
    auto r =
        run_flowbatch({"validate", "--no-environment", "--load-plugins", source_path("graphs/" + g.string()).string()});
    CHECK_MESSAGE(r.exit_code == 0, g, ": ", r.err);
  }
}

TEST_CASE("every example graph runs to the end, and what it reports is what its files hold") {
  const auto graphs = example_graphs();
  REQUIRE(!graphs.empty());
  for (const auto& g : graphs) {
    CAPTURE(g);
    TempDir dir;
    copy_graphs(dir);
    ::setenv("OPENAI_API_KEY", "sk-test-examples", 1);
    ::setenv("ANTHROPIC_API_KEY", "sk-ant-test-examples", 1);
    MockServer server({"--latency-ms", "2"});
    std::vector<std::string> args = {"run", g.string(), "--progress", "plain", "--report", "report.json"};
    for (const auto& o : at_mock(dir / g, server)) {
      args.push_back("--set");
      args.push_back(o);
    }
    auto r = run_flowbatch(args, dir.path());
    CHECK_MESSAGE((r.exit_code == 0 || r.exit_code == 3), r.err);
    const auto report = boost::json::parse(read_file(dir / "report.json")).as_object();
    CHECK(report.at("status").as_string() == "finished");
    const auto& items = report.at("items").as_object();
    CHECK(items.at("unfinished").to_number<std::uint64_t>() == 0);
    std::uint64_t written = 0;
    std::size_t files = 0;
    for (const auto& node : report.at("nodes").as_array()) {
      const auto& n = node.as_object();
      if (!n.contains("destination")) continue;
      const std::string destination(n.at("destination").as_string());
      if (destination == "standard output") continue;
      ++files;
      if (destination.ends_with(".csv")) {  // one header row, then a row per item (no multi-line fields here)
        const std::string csv = read_file(dir / destination);
        const auto rows = static_cast<std::uint64_t>(std::count(csv.begin(), csv.end(), '\n'));
        CHECK_MESSAGE(rows == n.at("ended").to_number<std::uint64_t>() + 1, destination);
        written += rows - 1;
        continue;
      }
      const auto records = read_jsonl(dir / destination);
      CHECK_MESSAGE(records.size() == n.at("ended").to_number<std::uint64_t>(), destination);
      written += records.size();
      for (const auto& [id, count] : count_ids(records))
        CHECK_MESSAGE(count == 1, destination, ": ", id, " written twice");
    }
    CHECK(files > 0);    // every example writes files: else nothing above was compared
    CHECK(written > 0);  // and it did something
    CHECK(written ==
          items.at("succeeded").to_number<std::uint64_t>() + items.at("dead_lettered").to_number<std::uint64_t>());
  }
}

TEST_CASE("the quick start runs: every ticket exactly once across results and the dead letter") {
  TempDir dir;
  copy_graphs(dir);
  auto r = run_flowbatch({"quickstart.toml", "--progress", "plain"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 3, r.err);  // a few tickets are empty or broken on purpose
  const auto results = read_jsonl(dir / "out/results.jsonl");
  const auto failed = read_jsonl(dir / "out/failed.jsonl");
  auto ids = count_ids(results);
  for (const auto& [id, n] : count_ids(failed)) ids[id] += n;
  for (int i = 1; i <= 2000; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "T%05d", i);
    CHECK_MESSAGE(ids[id] == 1, id);
  }
  CHECK(results.size() + failed.size() == 2002);  // 2,000 tickets + 2 broken lines
  for (const auto& res : results) {
    const std::string label(res.at("label").as_string());
    CHECK((label == "billing" || label == "shipping" || label == "technical"));
  }
  std::size_t empty = 0, broken = 0;
  for (const auto& f : failed) {
    const std::string cls(f.at("error").at("class").as_string());
    if (cls == "invalid_request") {
      ++empty;
      CHECK(f.at("error").at("message").as_string() == "the prompt is empty");
    } else if (cls == "invalid_input") {
      ++broken;
      CHECK(f.contains("line"));
    }
  }
  CHECK(empty == 6);
  CHECK(broken == 2);
  CHECK(r.err.find("dead-lettered by class: invalid_request 6, invalid_input 2") != std::string::npos);
}
