// The Debian package, as a new user gets it: cpack builds it from this build folder (installing
// what is built, compiling nothing again), dpkg-deb unpacks it into a scratch root, and the quick
// start runs from there with the installed program, its example graphs and plugins.
#include <doctest/doctest.h>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

/// The one .deb cpack left in `folder`.
fs::path deb_in(const fs::path& folder) {
  std::vector<fs::path> debs;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.path().extension() == ".deb") debs.push_back(e.path());
  REQUIRE(debs.size() == 1);
  return debs.front();
}

}  // namespace

TEST_CASE("the .deb holds everything, depends on its libraries, and runs the quick start from a scratch root") {
  TempDir dir;
  auto pack = run_process({FLOWBATCH_CPACK_COMMAND, "-G", "DEB", "-B", (dir / "pkg").string(), "--config",
                           (fs::path(FLOWBATCH_BUILD_DIR) / "CPackConfig.cmake").string()},
                          FLOWBATCH_BUILD_DIR);
  REQUIRE_MESSAGE(pack.exit_code == 0, pack.out, pack.err);
  const fs::path deb = deb_in(dir / "pkg");

  // dpkg-shlibdeps worked the dependencies out from the programs' and plugins' libraries.
  auto depends = run_process({"dpkg-deb", "--field", deb.string(), "Depends"});
  REQUIRE(depends.exit_code == 0);
  for (const char* library : {"libc6", "libstdc++6", "libtbb12", "libcurl4", "libsqlite3-0", "libboost-json1.81.0"})
    CHECK_MESSAGE(depends.out.find(library) != std::string::npos, library, " not in ", depends.out);

  const fs::path root = dir / "root";
  auto unpack = run_process({"dpkg-deb", "-x", deb.string(), root.string()});
  REQUIRE_MESSAGE(unpack.exit_code == 0, unpack.err);
  for (const char* file :
       {"usr/bin/flowbatch", "usr/bin/flowbatch-mock", "usr/include/flowbatch/plugin.h",
        "usr/lib/cmake/flowbatch/flowbatchConfig.cmake", "usr/lib/cmake/flowbatch/flowbatchTargets.cmake",
        "usr/lib/flowbatch/plugins/libredact_pii.so", "usr/lib/flowbatch/plugins/libcommand_provider.so",
        "usr/share/man/man1/flowbatch.1.gz", "usr/share/bash-completion/completions/flowbatch",
        "usr/share/zsh/vendor-completions/_flowbatch", "usr/share/flowbatch/flowbatch.schema.json",
        "usr/share/doc/flowbatch/copyright", "usr/share/doc/flowbatch/changelog.gz",
        "usr/share/doc/flowbatch/examples/graphs/quickstart.toml",
        "usr/share/doc/flowbatch/examples/graphs/data/tickets.jsonl",
        "usr/share/doc/flowbatch/examples/plugins/redact_pii/CMakeLists.txt"})
    CHECK_MESSAGE(fs::exists(root / file), file, " is not in the package");
  CHECK(!fs::exists(root / "usr/share/doc/flowbatch/examples/graphs/out"));

  const std::string program = (root / "usr/bin/flowbatch").string();
  auto version = run_process({program, "--version"});
  auto package_version = run_process({"dpkg-deb", "--field", deb.string(), "Version"});
  CHECK(first_line(version.out) == "flowbatch " + first_line(package_version.out));

  // The quick start, as the README has it, from a copy of the installed examples.
  const fs::path job = dir / "job";
  fs::copy(root / "usr/share/doc/flowbatch/examples/graphs", job, fs::copy_options::recursive);
  auto run = run_process({program, (job / "quickstart.toml").string(), "--progress", "off"});
  CHECK_MESSAGE(run.exit_code == 3, run.err);  // done, with the eight broken tickets dead-lettered
  CHECK(read_jsonl(job / "out/results.jsonl").size() == 1994);
  CHECK(read_jsonl(job / "out/failed.jsonl").size() == 8);

  // The installed program finds the installed plugins by name.
  ScopedEnv no_path("FLOWBATCH_PLUGIN_PATH", "");
  auto plugins = run_process({program, "plugins", (job / "redact_and_classify.toml").string()});
  CHECK_MESSAGE(plugins.exit_code == 0, plugins.err);
  CHECK(plugins.out.find((root / "usr/lib/flowbatch/plugins/libredact_pii.so").string()) != std::string::npos);
}
