// Loading plugins from `[pipeline] plugins`: real shared libraries, dlopen()ed into this process.
// The example plugins (examples/plugins/) and the test plugins (tests/plugins/) are built with
// the project. Each test uses its own registry: a registry remembers what it loaded.
#include <doctest/doctest.h>

#include <cstdlib>

#include "engine/plugins/plugin_loader.h"
#include "flowbatch/version.h"
#include "nodes/builtin.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

std::string test_plugin(const std::string& name) {
  return (fs::path(FLOWBATCH_TEST_PLUGIN_DIR) / (name + ".so")).string();
}

/// A graph with a redact_pii transform (from the example plugin) and the given plugins line.
std::string graph(const std::string& plugins_line, const std::string& transform_type = "redact_pii") {
  return "[pipeline]\n" + plugins_line + "\n" + R"(
[sources.in]
path = "in.jsonl"
[transforms.redact]
type = ")" +
         transform_type + R"("
inputs = ["in"]
[sinks.out]
inputs = ["redact"]
path = "out.jsonl"
)";
}

struct FreshRegistry {
  TypeRegistry registry;
  FreshRegistry() { register_builtin(registry); }
};

/// Compiles with a registry of its own; returns the diagnostics text.
std::string errors_of(const std::string& toml, const TempDir& dir) {
  FreshRegistry fresh;
  auto r = compile_text(toml, dir, {}, &fresh.registry);
  CHECK(r.diagnostics.error_count() > 0);
  return r.diagnostics.str();
}

}  // namespace

TEST_CASE("a plugin named by its bare name is found on the plugin path, and its types work like built-ins") {
  TempDir dir;
  dir.write("in.jsonl", "{\"id\": \"a\", \"text\": \"mail me at jane.doe@example.com\"}\n");
  FreshRegistry fresh;
  auto run = run_text(graph("plugins = [\"redact_pii\"]"), dir, {}, &fresh.registry);
  REQUIRE_MESSAGE(run.compiled.plan, run.compiled.diagnostics.str());
  CHECK(run.report.succeeded == 1);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 1);
  CHECK(out[0].at("text").as_string() == "mail me at [EMAIL]");
  REQUIRE(fresh.registry.plugins().size() == 1);
  CHECK(fresh.registry.plugins()[0].ends_with("libredact_pii.so"));
  CHECK(fresh.registry.origin_of(TypeFamily::transform, "redact_pii") == fresh.registry.plugins()[0]);
  CHECK(fresh.registry.origin_of(TypeFamily::transform, "map") == "built-in");
}

TEST_CASE("a plugin path is relative to the graph file, and a plugin loaded twice registers once") {
  TempDir dir;
  dir.write("in.jsonl", "{\"text\": \"x\"}\n");
  fs::create_directories(dir / "plugins");
  fs::copy_file(fs::path(FLOWBATCH_PLUGIN_DIR) / "libredact_pii.so", dir / "plugins" / "libredact.so");
  FreshRegistry fresh;
  auto first = compile_text(graph("plugins = [\"plugins/libredact.so\", \"plugins/../plugins/libredact.so\"]"), dir, {},
                            &fresh.registry);
  CHECK_MESSAGE(first.plan, first.diagnostics.str());
  auto again = compile_text(graph("plugins = [\"plugins/libredact.so\"]"), dir, {}, &fresh.registry);
  CHECK_MESSAGE(again.plan, again.diagnostics.str());
  CHECK(fresh.registry.plugins().size() == 1);
}

TEST_CASE("a missing plugin file, or a name on no plugin path, is an error at its entry") {
  TempDir dir;
  dir.write("in.jsonl", "{\"text\": \"x\"}\n");
  const std::string missing = errors_of(graph("plugins = [\"plugins/libnothing.so\"]"), dir);
  CHECK(missing.find("graph.toml:2:12: error: pipeline.plugins: plugin ") != std::string::npos);
  CHECK(missing.find("libnothing.so does not exist (relative paths start at the graph file's folder)") !=
        std::string::npos);

  const std::string unknown = errors_of(graph("plugins = [\"redact_pii\", \"nothing_here\"]"), dir);
  CHECK(unknown.find(
            "graph.toml:2:26: error: pipeline.plugins: cannot find plugin \"nothing_here\" (libnothing_here.so) in " +
            std::string(FLOWBATCH_PLUGIN_DIR)) != std::string::npos);
  CHECK(unknown.find("FLOWBATCH_PLUGIN_PATH") != std::string::npos);
}

TEST_CASE("a plugin built for another API version, or with other libraries, is refused with both named") {
  TempDir dir;
  dir.write("in.jsonl", "{\"text\": \"x\"}\n");
  const std::string version = errors_of(graph("plugins = [\"" + test_plugin("wrong_api_version") + "\"]"), dir);
  CHECK(version.find("was built for flowbatch plugin API version 999, but this flowbatch speaks version " +
                     std::to_string(kPluginApiVersion)) != std::string::npos);
  CHECK(version.find("graph.toml:2:12: error: pipeline.plugins:") != std::string::npos);

  const std::string build = errors_of(graph("plugins = [\"" + test_plugin("wrong_build") + "\"]"), dir);
  CHECK(build.find("was built with Boost 1_74, libstdc++ (cxx11 ABI 1), but this flowbatch with " +
                   std::string(kPluginBuild)) != std::string::npos);
}

TEST_CASE("a library without the plugin symbols, or one that is not a library at all, is a clear error") {
  TempDir dir;
  dir.write("in.jsonl", "{\"text\": \"x\"}\n");
  const std::string plain = errors_of(graph("plugins = [\"" + test_plugin("not_a_plugin") + "\"]"), dir);
  CHECK(plain.find("is not a flowbatch plugin: it does not export flowbatch_plugin_api_version() (define it with "
                   "FLOWBATCH_PLUGIN") != std::string::npos);

  dir.write("fake.so", "this is text, not ELF");
  const std::string junk = errors_of(graph("plugins = [\"fake.so\"]"), dir);
  CHECK(junk.find("pipeline.plugins: cannot load plugin ") != std::string::npos);
  CHECK(junk.find("fake.so") != std::string::npos);
}

TEST_CASE("a plugin registering a type that exists, or failing to register, is an error naming it") {
  TempDir dir;
  dir.write("in.jsonl", "{\"text\": \"x\"}\n");
  const std::string duplicate = errors_of(graph("plugins = [\"" + test_plugin("duplicate_type") + "\"]"), dir);
  CHECK(duplicate.find("source type \"jsonl\" is registered twice: built in and again by " +
                       test_plugin("duplicate_type")) != std::string::npos);

  const std::string throws = errors_of(graph("plugins = [\"" + test_plugin("throws_on_register") + "\"]"), dir);
  CHECK(throws.find("failed while registering its types: cannot find my model file") != std::string::npos);
}

TEST_CASE("every plugin problem is listed in one pass, with the unknown types they leave behind (did-you-mean)") {
  TempDir dir;
  dir.write("in.jsonl", "{\"text\": \"x\"}\n");
  const std::string all = errors_of(
      graph("plugins = [\"redact_pii\", \"nothing_here\", \"" + test_plugin("wrong_api_version") + "\"]", "redact_pi"),
      dir);
  CHECK(all.find("cannot find plugin \"nothing_here\"") != std::string::npos);
  CHECK(all.find("API version 999") != std::string::npos);
  CHECK(all.find("transforms.redact.type: unknown transform type \"redact_pi\" (did you mean \"redact_pii\"?)") !=
        std::string::npos);
}

TEST_CASE("the plugin search path: FLOWBATCH_PLUGIN_PATH first, then beside the program") {
  const char* saved = std::getenv("FLOWBATCH_PLUGIN_PATH");
  const std::string restore = saved ? saved : "";
  ::setenv("FLOWBATCH_PLUGIN_PATH", "/opt/a::/opt/b", 1);
  const auto dirs = plugin_search_path();
  ::setenv("FLOWBATCH_PLUGIN_PATH", restore.c_str(), 1);
  REQUIRE(dirs.size() == 4);
  CHECK(dirs[0] == "/opt/a");
  CHECK(dirs[1] == "/opt/b");
  CHECK(dirs[2].filename() == "plugins");
  CHECK(dirs[3].string().ends_with("flowbatch/plugins"));
}
