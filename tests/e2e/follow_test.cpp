// A jsonl source with follow = true, run as a program against flowbatch-mock: lines appended while
// it runs are picked up, a rotation (rename, new file) is survived, a drain ends it, and a kill -9
// followed by a restart loses nothing and writes nothing twice.
#include <signal.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

void append_lines(const std::filesystem::path& file, std::size_t first, std::size_t count) {
  std::ofstream out(file, std::ios::app | std::ios::binary);
  for (std::size_t i = first; i < first + count; ++i)
    out << fmt::format(R"({{"id": "f{}", "text": "item {}"}})", i, i) << '\n';
}

/// Lines of out.jsonl so far (a line being written may be cut: only whole ones count).
std::size_t results_so_far(const TempDir& dir) {
  if (!std::filesystem::exists(dir / "out.jsonl")) return 0;
  const std::string text = read_file(dir / "out.jsonl");
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

/// Every id f1..fN exactly once in out.jsonl, and nothing else.
void check_each_followed_id_once(const TempDir& dir, std::size_t n) {
  const auto ids = count_ids(read_jsonl(dir / "out.jsonl"));
  CHECK(ids.size() == n);
  for (const auto& [id, count] : ids) CHECK_MESSAGE(count == 1, id);
  CHECK(ids.count("f1") == 1);
  CHECK(ids.count(fmt::format("f{}", n)) == 1);
}

const std::vector<std::string> kFollowArgs = {
    "run", "graph.toml", "--set", "sources.in.follow=true", "--set", "sinks.out.flush_interval_ms=50"};

}  // namespace

TEST_CASE("follow: appended lines are read, a rotation is survived, a drain ends the run with every id once") {
  MockServer mock;
  TempDir dir;
  dir.write("graph.toml", openai_chat_graph(mock.base_url(), "", ""));
  append_lines(dir / "in.jsonl", 1, 100);
  const pid_t run = start_flowbatch(kFollowArgs, dir.path());
  REQUIRE(eventually([&] { return results_so_far(dir) == 100; }, std::chrono::seconds(60)));

  append_lines(dir / "in.jsonl", 101, 50);
  REQUIRE(eventually([&] { return results_so_far(dir) == 150; }, std::chrono::seconds(60)));

  std::filesystem::rename(dir / "in.jsonl", dir / "in.jsonl.1");
  append_lines(dir / "in.jsonl.1", 151, 10);  // the writer had not reopened yet
  append_lines(dir / "in.jsonl", 161, 40);    // the new file
  REQUIRE(eventually([&] { return results_so_far(dir) == 200; }, std::chrono::seconds(60)));

  ::kill(run, SIGINT);
  CHECK(wait_exit(run) == 130);
  check_each_followed_id_once(dir, 200);
  CHECK(read_jsonl(dir / "dead.jsonl").empty());
}

TEST_CASE("follow: killed with SIGKILL after a rotation and started again, nothing is lost or written twice") {
  MockServer mock({"--latency-ms", "20"});
  TempDir dir;
  dir.write("graph.toml", openai_chat_graph(mock.base_url(), "max_concurrency = 4", ""));
  append_lines(dir / "in.jsonl", 1, 300);
  pid_t run = start_flowbatch(kFollowArgs, dir.path());
  REQUIRE(eventually([&] { return results_so_far(dir) >= 50; }, std::chrono::seconds(60)));
  std::filesystem::rename(dir / "in.jsonl", dir / "in.jsonl.1");  // most of the first file not done yet
  append_lines(dir / "in.jsonl", 301, 100);
  REQUIRE(eventually([&] { return results_so_far(dir) >= 120; }, std::chrono::seconds(60)));
  ::kill(run, SIGKILL);
  CHECK(wait_exit(run) == 128 + SIGKILL);
  CHECK(results_so_far(dir) < 400);

  append_lines(dir / "in.jsonl", 401, 50);  // arrived while no run followed the file
  run = start_flowbatch(kFollowArgs, dir.path());
  REQUIRE(eventually([&] { return results_so_far(dir) >= 450; }, std::chrono::seconds(90)));
  ::kill(run, SIGINT);
  CHECK(wait_exit(run) == 130);
  check_each_followed_id_once(dir, 450);
}
