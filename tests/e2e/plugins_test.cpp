// The example plugins (examples/plugins/) through the built flowbatch program: graphs that use
// them, their failure classes, `flowbatch plugins`, and a plugin built out of tree against an
// installed flowbatch (cmake --install to a temporary prefix, then find_package(flowbatch)).
#include <doctest/doctest.h>

#include <regex>

#include <fmt/format.h>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

/// A graph whose one call goes to a `command` provider running `command` (a TOML array).
std::string command_graph(const std::string& command, int timeout_ms = 10000) {
  return R"([pipeline]
plugins = ["command_provider"]
[providers.local]
type = "command"
command = )" +
         command + "\ntimeout_ms = " + std::to_string(timeout_ms) + R"(
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "local"
prompt = "{{text}}"
output_field = "answer"
[dead_letters.dead]
inputs = ["c.error"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)";
}

/// Runs a command graph on two items and returns the dead letters (every item fails alike).
std::vector<boost::json::object> failures_of(const std::string& command, int timeout_ms = 10000) {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(2));
  dir.write("g.toml", command_graph(command, timeout_ms));
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(r.exit_code == 3, r.err);  // finished, with dead letters
  CHECK((!fs::exists(dir / "out.jsonl") || read_jsonl(dir / "out.jsonl").empty()));
  return read_jsonl(dir / "dead.jsonl");
}

}  // namespace

TEST_CASE("redact_and_classify: no personal data reaches the classifier, every message gets its label") {
  TempDir dir;
  fs::copy(source_path("graphs"), dir.path(), fs::copy_options::recursive);
  fs::remove_all(dir / "out");
  fs::remove_all(dir / ".flowbatch");
  auto r = run_flowbatch({"redact_and_classify.toml"}, dir.path());
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto results = read_jsonl(dir / "out/redact_and_classify.jsonl");
  const auto inputs = read_jsonl(dir / "data/customer_messages.jsonl");
  REQUIRE(results.size() == inputs.size());
  std::map<std::string, boost::json::object> input_by_id;
  for (const auto& in : inputs) input_by_id[std::string(in.at("id").as_string())] = in;
  const std::regex email(R"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})");
  const std::regex long_number(R"(\d[\d -]{6,}\d)");  // phone and card numbers
  std::size_t redacted = 0;
  for (const auto& out : results) {
    const std::string id(out.at("id").as_string());
    const std::string text(out.at("text").as_string());
    CAPTURE(text);
    CHECK(input_by_id.count(id) == 1);
    CHECK(!std::regex_search(text, email));
    CHECK(!std::regex_search(text, long_number));
    CHECK(out.at("label") == input_by_id[id].at("expected"));
    if (out.at("redactions").as_int64() > 0) ++redacted;
    if (text != std::string(input_by_id[id].at("text").as_string())) CHECK(out.at("redactions").as_int64() > 0);
  }
  CHECK(redacted > results.size() / 2);  // most messages carry personal data
}

TEST_CASE("command provider: exit status, time-out and wrong answers each get their class") {
  auto exited = failures_of(R"(["sh", "-c", "echo 'model not loaded' >&2; exit 3"])");
  REQUIRE(exited.size() == 2);
  CHECK(exited[0].at("error").at("class").as_string() == "server");
  CHECK(exited[0].at("error").at("message").as_string() == "the command exited with status 3: model not loaded");

  auto slow = failures_of(R"(["sleep", "30"])", 300);
  REQUIRE(slow.size() == 2);
  CHECK(slow[0].at("error").at("class").as_string() == "timeout");

  auto chatty = failures_of(R"(["sh", "-c", "cat > /dev/null; echo one; echo two"])");
  REQUIRE(chatty.size() == 2);
  CHECK(chatty[0].at("error").at("class").as_string() == "parse");
  CHECK(chatty[0].at("error").at("message").as_string() == "the command answered 2 lines for 1 item");
}

TEST_CASE("command provider: a program that does not exist is a configuration error") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  dir.write("g.toml", command_graph(R"(["no-such-program-here", "x"])"));
  auto r = run_flowbatch({"validate", "--load-plugins", "g.toml"}, dir.path());
  CHECK(r.exit_code == 78);
  CHECK(
      r.err.find(
          "g.toml:5:11: error: providers.local.command: cannot find the program \"no-such-program-here\" (in PATH)") !=
      std::string::npos);
}

TEST_CASE("flowbatch plugins lists built-in and plugin types, with where each came from and its keys") {
  auto r = run_flowbatch({"plugins", source_path("graphs/redact_and_classify.toml").string()});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("redact_pii") != std::string::npos);
  CHECK(r.out.find("libredact_pii.so") != std::string::npos);
  CHECK(r.out.find("libcommand_provider.so") != std::string::npos);
  CHECK(r.out.find("count_field") != std::string::npos);  // a key of redact_pii
  CHECK(r.out.find("jsonl") != std::string::npos);        // built-ins too
  CHECK(r.out.find("plugins loaded:") != std::string::npos);

  auto builtins = run_flowbatch({"plugins"});
  CHECK(builtins.exit_code == 0);
  CHECK(builtins.out.find("redact_pii") == std::string::npos);
  CHECK(builtins.out.find("jsonl") != std::string::npos);
}

TEST_CASE("a plugin builds out of tree against an installed flowbatch, and the installed program runs it") {
  TempDir dir;
  const fs::path prefix = dir / "prefix";
  auto install = run_process({FLOWBATCH_CMAKE_COMMAND, "--install", FLOWBATCH_BUILD_DIR, "--prefix", prefix.string()});
  REQUIRE_MESSAGE(install.exit_code == 0, install.out, install.err);
  REQUIRE(fs::exists(prefix / "include/flowbatch/plugin.h"));

  // A copy of the example's folder, as a plugin author would have it: nothing of the flowbatch tree.
  fs::copy(source_path("examples/plugins/redact_pii"), dir / "redact", fs::copy_options::recursive);
  auto configure = run_process({FLOWBATCH_CMAKE_COMMAND, "-S", (dir / "redact").string(), "-B",
                                (dir / "redact/build").string(), "-G", FLOWBATCH_CMAKE_GENERATOR,
                                "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_PREFIX_PATH=" + prefix.string()});
  REQUIRE_MESSAGE(configure.exit_code == 0, configure.out, configure.err);
  auto build = run_process({FLOWBATCH_CMAKE_COMMAND, "--build", (dir / "redact/build").string()});
  REQUIRE_MESSAGE(build.exit_code == 0, build.out, build.err);
  REQUIRE(fs::exists(dir / "redact/build/libredact_pii.so"));

  dir.write("in.jsonl", "{\"id\": \"1\", \"text\": \"call +1 415 555 0100 or write to a.b@example.org\"}\n");
  dir.write("g.toml", R"([pipeline]
plugins = ["redact/build/libredact_pii.so"]
[sources.in]
path = "in.jsonl"
[transforms.redact]
type = "redact_pii"
inputs = ["in"]
[sinks.out]
inputs = ["redact"]
path = "out.jsonl"
)");
  ScopedEnv no_path("FLOWBATCH_PLUGIN_PATH", "");
  auto run = run_process({(prefix / "bin/flowbatch").string(), "g.toml"}, dir.path());
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 1);
  CHECK(out[0].at("text").as_string() == "call [PHONE] or write to [EMAIL]");

  // The installed program finds the installed example plugins by name.
  dir.write("named.toml",
            "[pipeline]\nplugins = [\"command_provider\"]\n[sources.in]\npath = \"in.jsonl\"\n"
            "[sinks.out]\ninputs = [\"in\"]\npath = \"named.jsonl\"\n");
  auto listed = run_process({(prefix / "bin/flowbatch").string(), "plugins", "named.toml"}, dir.path());
  CHECK_MESSAGE(listed.exit_code == 0, listed.err);
  CHECK(listed.out.find((prefix / "lib").string()) != std::string::npos);
}

TEST_CASE("a plugin provider built on the published HTTP helpers classifies answers as the built-ins do") {
  MockServer server({"--error-rate", "0.3"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(40));
  dir.write("g.toml",
            fmt::format(R"(
[pipeline]
progress = "off"
plugins = ["{}"]
[providers.p]
type = "compat_chat"
base_url = "{}"
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in", "r"]
provider = "p"
prompt = "{{{{text}}}}"
[retries.r]
inputs = ["c.error"]
max_attempts = 20
initial_backoff_ms = 1
max_backoff_ms = 5
[dead_letters.dead]
inputs = ["r.exhausted", "in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                        (fs::path(FLOWBATCH_TEST_PLUGIN_DIR) / "http_helpers.so").string(), server.base_url()));
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 40);
  // The 5xx answers were classed `server` by class_of_status (and so retried), not anything else.
  CHECK(run.err.find("failed attempts by class: server") != std::string::npos);
}
