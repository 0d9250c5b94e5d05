// The graph's oneTBB workers go idle after every batch of answers on an HTTP-bound run; they must
// go to sleep then, not spin in sched_yield() system calls (engine/cli/short_idle_spin.cpp;
// bench/README.md, issue 17). Counted with strace, as the kernel sees the calls.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

/// The number of calls `strace -c` counted for `syscall` (0 when it lists none); fails the test
/// unless the file is a summary (its header line read).
long counted_calls(const fs::path& summary, const std::string& syscall) {
  std::ifstream in(summary);
  REQUIRE_MESSAGE(in, "no strace summary at " << summary);
  std::string line;
  long calls = 0;
  bool header = false;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string w; fields >> w;) words.push_back(w);
    // "% time  seconds  usecs/call  calls  [errors]  syscall", a rule, then a row per syscall
    if (words.size() >= 2 && words[0] == "%" && words[1] == "time") header = true;
    if (header && words.size() >= 5 && words.back() == syscall) calls = std::stol(words[3]);
  }
  REQUIRE_MESSAGE(header, "not an strace -c summary: " << summary);
  return calls;
}

/// Whether strace may trace here (a container without ptrace rights may forbid it).
bool strace_works() {
  return fs::exists("/usr/bin/strace") &&
         run_process({"/usr/bin/strace", "-o", "/dev/null", "/bin/true"}).exit_code == 0;
}

}  // namespace

TEST_CASE("an HTTP-bound run's idle graph worker sleeps instead of spinning in sched_yield") {
  if (!FLOWBATCH_SHORT_IDLE_SPIN) {
    MESSAGE("skipped: this build leaves FLOWBATCH_SHORT_IDLE_SPIN off");
    return;
  }
  if (!strace_works()) {
    MESSAGE("skipped: strace is missing (make deps installs it) or may not trace here");
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
  // write(2) too: the sink surely makes some, so the summary is never empty (strace prints none
  // when it counted nothing).
  auto run = run_process({"/usr/bin/strace", "-f", "-c", "-qq", "-e", "trace=sched_yield,write", "-o", "calls.txt",
                          FLOWBATCH_BINARY, "g.toml"},
                         dir.path());
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")).size() == kRequests);
  // Measured on this graph: oneTBB 2021.8 alone made ~14,000 calls for the 3,000 requests (its idle
  // loop yields ~100 times each time the worker runs out of tasks); with the program's own
  // sched_yield, ~300.
  REQUIRE(counted_calls(dir / "calls.txt", "write") > 0);
  const long calls = counted_calls(dir / "calls.txt", "sched_yield");
  INFO("sched_yield system calls: " << calls << " for " << kRequests << " requests");
  CHECK(calls < kRequests);
}
