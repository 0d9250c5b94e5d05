// The graph's oneTBB workers go idle after every batch of answers on an HTTP-bound run; they must
// go to sleep then, not spin in sched_yield() system calls (engine/cli/short_idle_spin.cpp;
// bench/README.md, issue 17). Counted with strace, as the kernel sees the calls.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

/// The number of calls `strace -c` counted for `syscall` (0 when it lists none).
long counted_calls(const fs::path& summary, const std::string& syscall) {
  std::ifstream in(summary);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string w; fields >> w;) words.push_back(w);
    // "% time  seconds  usecs/call  calls  [errors]  syscall"
    if (words.size() >= 5 && words.back() == syscall) return std::stol(words[3]);
  }
  return 0;
}

}  // namespace

TEST_CASE("an HTTP-bound run's idle graph worker sleeps instead of spinning in sched_yield") {
  if (!FLOWBATCH_SHORT_IDLE_SPIN) {
    MESSAGE("skipped: this build leaves FLOWBATCH_SHORT_IDLE_SPIN off");
    return;
  }
  if (!fs::exists("/usr/bin/strace")) {
    MESSAGE("skipped: strace is missing (make deps installs it)");
    return;
  }
  constexpr int kRequests = 3000;
  MockServer mock;
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(kRequests));
  ChatGraph graph;
  graph.base_url = mock.base_url();
  graph.provider = "max_concurrency = 16";
  dir.write("g.toml", graph.toml());
  auto run = run_process(
      {"/usr/bin/strace", "-f", "-c", "-qq", "-e", "trace=sched_yield", "-o", "calls.txt", FLOWBATCH_BINARY, "g.toml"},
      dir.path());
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")).size() == kRequests);
  // oneTBB 2021.8 alone makes four to five calls per request here (its idle loop yields ~100
  // times each time the worker runs out of tasks); with the program's own sched_yield, about one
  // in ten requests sees one.
  const long calls = counted_calls(dir / "calls.txt", "sched_yield");
  INFO("sched_yield system calls: " << calls << " for " << kRequests << " requests");
  CHECK(calls < kRequests);
}
