// What a power cut needs beyond fsync of the data: the folder entries of every file and folder
// flowbatch creates, synced. Watched with strace, as the kernel sees the calls.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "engine/core/text.h"
#include "tests/support/fixtures.h"

using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

/// The paths strace -y showed fsync (or fdatasync) being called on.
std::vector<std::string> synced_paths(const fs::path& trace, const std::string& call) {
  std::vector<std::string> paths;
  std::ifstream in(trace);
  std::string line;
  const std::string prefix = call + "(";
  while (std::getline(in, line)) {
    const auto at = line.find(prefix);
    if (at == std::string::npos) continue;
    const auto open = line.find('<', at);
    const auto close = line.find('>', open);
    if (open != std::string::npos && close != std::string::npos)
      paths.push_back(line.substr(open + 1, close - open - 1));
  }
  return paths;
}

bool contains(const std::vector<std::string>& paths, const fs::path& p) {
  return std::find(paths.begin(), paths.end(), fs::weakly_canonical(p).string()) != paths.end();
}

}  // namespace

TEST_CASE("new outputs, their new folders and the state's folder are synced into their parents") {
  if (!fs::exists("/usr/bin/strace")) {
    MESSAGE("skipped: strace is missing (make deps installs it)");
    return;
  }
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(20) + "{broken\n");
  dir.write("g.toml", R"(
[pipeline]
progress = "off"
[sources.in]
path = "in.jsonl"
id_field = "id"
[dead_letters.failed]
inputs = ["in.invalid"]
path = "out/deep/failed.jsonl"
[sinks.out]
inputs = ["in"]
path = "out/deep/results.jsonl"
)");
  // LeakSanitizer cannot run under ptrace: in the ASan build the traced run keeps ASan, not LSan.
  auto run = run_process({"/usr/bin/strace", "-f", "-y", "-qq", "-e", "trace=fsync,fdatasync", "-o", "trace.txt", "-E",
                          "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1", FLOWBATCH_BINARY, "g.toml"},
                         dir.path());
  REQUIRE_MESSAGE(run.exit_code == 3, run.err);
  const auto fsyncs = synced_paths(dir / "trace.txt", "fsync");
  const auto datasyncs = synced_paths(dir / "trace.txt", "fdatasync");
  INFO("fsync: " << flowbatch::join(fsyncs, ", "));
  CHECK(contains(fsyncs, dir.path()));                                 // holds the new out/ and .flowbatch/
  CHECK(contains(fsyncs, dir / "out"));                                // holds the new deep/
  CHECK(contains(fsyncs, dir / "out" / "deep"));                       // holds the new output files
  CHECK(contains(fsyncs, dir / ".flowbatch"));                         // holds the new state file
  CHECK(contains(datasyncs, dir / "out" / "deep" / "results.jsonl"));  // and the data itself
  CHECK(contains(datasyncs, dir / "out" / "deep" / "failed.jsonl"));
}
