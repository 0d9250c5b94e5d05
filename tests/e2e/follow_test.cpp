// A jsonl source with follow = true, run as a program against flowbatch-mock: lines appended while
// it runs are picked up, a rotation (rename, new file) is survived, a drain ends it, and a kill -9
// followed by a restart loses nothing and writes nothing twice.
#include <signal.h>
#include <sqlite3.h>

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

/// The rows of the state's table of followed files.
std::int64_t followed_file_rows(const TempDir& dir) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((dir / ".flowbatch/graph.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* count = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM followed_files", -1, &count, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(count) == SQLITE_ROW);
  const std::int64_t rows = sqlite3_column_int64(count, 0);
  sqlite3_finalize(count);
  sqlite3_close(db);
  return rows;
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

TEST_CASE("follow: rotations that remove old files leave in the state only the files still on disk") {
  MockServer mock;
  TempDir dir;
  dir.write("graph.toml", openai_chat_graph(mock.base_url(), "", ""));
  append_lines(dir / "in.jsonl", 1, 20);
  pid_t run = start_flowbatch(kFollowArgs, dir.path());
  REQUIRE(eventually([&] { return results_so_far(dir) == 20; }, std::chrono::seconds(60)));
  for (std::size_t day = 1; day <= 5; ++day) {  // logrotate with `rotate 1`: in.jsonl.1 is the one kept
    append_lines(dir / "in.jsonl.new", 1 + 20 * day, 20);
    std::filesystem::rename(dir / "in.jsonl", dir / "in.jsonl.1");
    std::filesystem::rename(dir / "in.jsonl.new", dir / "in.jsonl");
    REQUIRE(eventually([&] { return results_so_far(dir) == 20 * (day + 1); }, std::chrono::seconds(60)));
  }
  ::kill(run, SIGINT);
  CHECK(wait_exit(run) == 130);
  CHECK(followed_file_rows(dir) == 2);  // in.jsonl.1 and in.jsonl, not the 4 files removed

  // A resumed run with what is left reads on, with every line numbered as before.
  append_lines(dir / "in.jsonl", 121, 20);
  run = start_flowbatch(kFollowArgs, dir.path());
  REQUIRE(eventually([&] { return results_so_far(dir) == 140; }, std::chrono::seconds(60)));
  ::kill(run, SIGINT);
  CHECK(wait_exit(run) == 130);
  check_each_followed_id_once(dir, 140);
}
