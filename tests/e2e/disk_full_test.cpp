// A full disk under an output or the state: the run stops at once, resumable (exit 75), names the
// file and the reason, and records nothing it did not write; once space is freed the same
// command finishes with every item exactly once. The disk is a small tmpfs the test mounts (the
// tests run as root in CI; elsewhere they say why they are skipped).
#include <doctest/doctest.h>
#include <sys/mount.h>

#include <fmt/format.h>

#include <optional>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

/// A tmpfs of a given size mounted on a folder, unmounted at the end.
class SmallDisk {
 public:
  static std::optional<SmallDisk> mount_at(const fs::path& folder, const std::string& size) {
    fs::create_directories(folder);
    if (::mount("tmpfs", folder.c_str(), "tmpfs", 0, ("size=" + size).c_str()) != 0) return std::nullopt;
    return SmallDisk(folder);
  }
  SmallDisk(SmallDisk&& other) noexcept : folder_(std::exchange(other.folder_, {})) {}
  SmallDisk& operator=(SmallDisk&&) = delete;
  ~SmallDisk() {
    if (!folder_.empty()) ::umount2(folder_.c_str(), MNT_DETACH);
  }
  /// Frees space the way a user would: here, by making the disk larger.
  bool grow(const std::string& size) const {
    return ::mount("tmpfs", folder_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
  }

 private:
  explicit SmallDisk(fs::path folder) : folder_(std::move(folder)) {}
  fs::path folder_;
};

std::string graph(const std::string& sink_path, const std::string& state_line, const std::string& call_extra = "") {
  return fmt::format(R"(
[pipeline]
progress = "off"
{}
[providers.sim]
type = "mock"
latency_ms = 1
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "sim"
prompt = "{{{{text}}}} {{{{text}}}} {{{{text}}}} {{{{text}}}}"
{}
[dead_letters.failed]
inputs = ["c.error", "in.invalid"]
path = "failed.jsonl"
[sinks.out]
inputs = ["c"]
path = "{}"
flush_every = 50
)",
                     state_line, call_extra, sink_path);
}

/// Runs flowbatch with a time limit: a run that hangs on a full disk fails the test, not CI.
ProcessResult run_bounded(const TempDir& dir) {
  return run_process({"/usr/bin/timeout", "-k", "5", "120", FLOWBATCH_BINARY, "g.toml"}, dir.path());
}

void check_each_once(const fs::path& results, std::size_t n) {
  const auto ids = count_ids(read_jsonl(results));
  CHECK(ids.size() == n);
  for (const auto& [id, count] : ids) CHECK_MESSAGE(count == 1, id);
}

}  // namespace

TEST_CASE("a sink on a full disk stops the run resumable, and after space is freed every item is written once") {
  TempDir dir;
  auto disk = SmallDisk::mount_at(dir / "disk", "64k");
  if (!disk) {
    MESSAGE("skipped: cannot mount a tmpfs here (the test needs root)");
    return;
  }
  dir.write("in.jsonl", make_jsonl(2000, "i", R"("pad": "a line long enough to fill a small disk quickly")"));
  dir.write("g.toml", graph("disk/results.jsonl", ""));
  auto full = run_bounded(dir);
  REQUIRE_MESSAGE(full.exit_code == 75, full.err);
  CHECK(full.err.find("results.jsonl") != std::string::npos);
  CHECK(full.err.find("No space left on device") != std::string::npos);
  CHECK(full.err.find("run the same command") != std::string::npos);
  // What the failed run left committed is whole lines, each id once (the rest is cut on resume).
  REQUIRE(disk->grow("16m"));
  auto resumed = run_bounded(dir);
  REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
  check_each_once(dir / "disk" / "results.jsonl", 2000);
}

TEST_CASE("a state on a full disk stops the run resumable, and after space is freed every item is written once") {
  TempDir dir;
  auto disk = SmallDisk::mount_at(dir / "disk", "320k");
  if (!disk) {
    MESSAGE("skipped: cannot mount a tmpfs here (the test needs root)");
    return;
  }
  dir.write("in.jsonl", make_jsonl(2000));
  // The cache keeps every answer in the state, so the state outgrows the small disk.
  MockServer server;
  std::string toml = graph("results.jsonl", "state = \"disk/state.db\"", "cache = true\nmodel = \"m\"");
  const std::string mock = "[providers.sim]\ntype = \"mock\"\nlatency_ms = 1\n";
  REQUIRE(toml.find(mock) != std::string::npos);
  toml.replace(
      toml.find(mock), mock.size(),
      fmt::format("[providers.sim]\ntype = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"\"\n", server.base_url()));
  dir.write("g.toml", toml);
  auto full = run_bounded(dir);
  REQUIRE_MESSAGE(full.exit_code == 75, full.err);
  CHECK(full.err.find("the disk holding the state") != std::string::npos);
  CHECK(full.err.find("run the same command") != std::string::npos);
  REQUIRE(disk->grow("64m"));
  auto resumed = run_bounded(dir);
  REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
  check_each_once(dir / "results.jsonl", 2000);
}
