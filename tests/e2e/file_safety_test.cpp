// What flowbatch writes is private and goes where the graph says: files 0600 and folders 0700
// (the state too, with SQLite's -wal and -shm), never through a symbolic link, never outside the
// graph's folders because of a name. The built program on real files, checked with stat(2).
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

/// in.jsonl (with one broken line) → the mock provider → out/deep/out.jsonl; invalid lines →
/// out/deep/dead.jsonl.
constexpr const char* kGraph = R"([pipeline]
progress = "off"
[providers.sim]
type = "mock"
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "sim"
prompt = "{{text}}"
[dead_letters.dead]
inputs = ["in.invalid", "c.error"]
path = "out/deep/dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out/deep/out.jsonl"
)";

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

/// Runs with `mask` as the umask flowbatch starts with (restored after).
ProcessResult run_with_umask(mode_t mask, const std::vector<std::string>& args, const fs::path& cwd) {
  const mode_t old = ::umask(mask);
  ProcessResult r = run_flowbatch(args, cwd);
  ::umask(old);
  return r;
}

}  // namespace

TEST_CASE("outputs, dead letters and the state are created 0600, new folders 0700, even with a lax umask") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(3) + "not json\n");
  dir.write("g.toml", kGraph);
  auto run = run_with_umask(0022, {"g.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 3, run.err);
  const std::vector<fs::path> files = {dir / "out/deep/out.jsonl", dir / "out/deep/dead.jsonl",
                                       dir / ".flowbatch/g.db"};
  REQUIRE(files.size() == 3);
  for (const auto& f : files) CHECK_MESSAGE(mode_of(f) == 0600, f);
  std::size_t state_files = 0;  // the lock, and -wal / -shm where SQLite left them
  for (const auto& e : fs::directory_iterator(dir / ".flowbatch")) {
    CHECK_MESSAGE(mode_of(e.path()) == 0600, e.path());
    ++state_files;
  }
  CHECK(state_files >= 2);
  for (const auto& d : {dir / "out", dir / "out/deep", dir / ".flowbatch"}) CHECK_MESSAGE(mode_of(d) == 0700, d);
}

TEST_CASE("a stricter umask is respected") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(2));
  dir.write("g.toml", kGraph);
  run_with_umask(0077 | 0200, {"g.toml"}, dir.path());  // not even the owner may write
  // The run may fail (unless run as root) once a folder cannot be written into; what it created
  // shows the umask.
  CHECK(mode_of(dir / "out") == 0500);
  fs::permissions(dir / "out", fs::perms::owner_all);  // so that the folder can be removed
}

TEST_CASE("an output that is a symbolic link is refused before anything runs, and its target is untouched") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(2));
  dir.write("g.toml", kGraph);
  const fs::path precious = dir.write("precious.txt", "do not truncate me\n");
  fs::create_directories(dir / "out/deep");
  fs::create_symlink(precious, dir / "out/deep/out.jsonl");
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK(run.exit_code == 78);
  CHECK_MESSAGE(run.err.find("sinks.out.path: out/deep/out.jsonl is a symbolic link") != std::string::npos, run.err);
  auto validate = run_flowbatch({"validate", "g.toml"}, dir.path());
  CHECK(validate.exit_code == 78);
  CHECK(read_file(precious) == "do not truncate me\n");
}

TEST_CASE("a dead letter or state that is a symbolic link is refused too") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(2));
  dir.write("g.toml", kGraph);
  const fs::path precious = dir.write("precious.txt", "keep\n");
  fs::create_directories(dir / "out/deep");
  fs::create_directories(dir / ".flowbatch");
  fs::create_symlink(precious, dir / "out/deep/dead.jsonl");
  fs::create_symlink(precious, dir / ".flowbatch/g.db");
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK(run.exit_code == 78);
  CHECK(run.err.find("dead_letters.dead.path: out/deep/dead.jsonl is a symbolic link") != std::string::npos);
  CHECK(run.err.find("pipeline.state: ") != std::string::npos);
  CHECK(read_file(precious) == "keep\n");
}

TEST_CASE("pipeline.name follows the rule of node names, naming the file, line, column and key") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  dir.write("g.toml", std::string("[pipeline]\nname = \"../../../x\"\n") +
                          std::string(kGraph).substr(std::string("[pipeline]\n").size()));
  auto run = run_flowbatch({"validate", "g.toml"}, dir.path());
  CHECK(run.exit_code == 78);
  CHECK_MESSAGE(
      run.err.find("g.toml:2:8: error: pipeline.name: may use only letters, digits, '_' and '-'") != std::string::npos,
      run.err);
}
