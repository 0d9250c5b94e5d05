// A graph is code: `validate` and `graph` check one without running the plugins it names (unless
// --load-plugins asks), and a key about to cross the network in plain text is warned about.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <filesystem>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

/// A graph whose plugin throws when loaded: the error shows whether its code ran.
std::string graph_loading(const std::string& plugin) {
  return fmt::format(R"([pipeline]
plugins = ["{}"]
[sources.in]
path = "in.jsonl"
[sinks.out]
inputs = ["in"]
path = "out.jsonl"
)",
                     plugin);
}

const std::string kThrowingPlugin = (fs::path(FLOWBATCH_TEST_PLUGIN_DIR) / "throws_on_register.so").string();

}  // namespace

TEST_CASE("validate and graph do not load a graph's plugins unless --load-plugins is given") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  dir.write("g.toml", graph_loading(kThrowingPlugin));
  for (const char* command : {"validate", "graph"}) {
    auto plain = run_flowbatch({command, "g.toml"}, dir.path());
    CHECK_MESSAGE(plain.exit_code == 0, plain.err);
    CHECK(plain.err.find("cannot find my model file") == std::string::npos);  // its code never ran
    auto loaded = run_flowbatch({command, "--load-plugins", "g.toml"}, dir.path());
    CHECK(loaded.exit_code == 78);
    CHECK(loaded.err.find("cannot find my model file") != std::string::npos);
  }
}

TEST_CASE("without --load-plugins, a plugin's types are unknown, with a hint to the flag") {
  TempDir dir;
  fs::copy(source_path("graphs"), dir.path(), fs::copy_options::recursive);
  auto plain = run_flowbatch({"validate", "--no-environment", "redact_and_classify.toml"}, dir.path());
  CHECK(plain.exit_code == 78);
  CHECK(plain.err.find("unknown transform type \"redact_pii\"") != std::string::npos);
  CHECK(plain.err.find("pass --load-plugins") != std::string::npos);
  auto loaded =
      run_flowbatch({"validate", "--no-environment", "--load-plugins", "redact_and_classify.toml"}, dir.path());
  CHECK_MESSAGE(loaded.exit_code == 0, loaded.err);
}

TEST_CASE("a key sent over plain http to a host that is not loopback is warned about") {
  ScopedEnv env("FLOWBATCH_E2E_PLAIN_KEY", "sk-plain-http-000111222333");
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  const auto graph = [](const std::string& base_url, const std::string& key_env) {
    return fmt::format(R"([providers.p]
type = "openai"
base_url = "{}"
api_key_env = "{}"
[sources.in]
path = "in.jsonl"
[calls.c]
inputs = ["in"]
provider = "p"
prompt = "{{{{text}}}}"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                       base_url, key_env);
  };
  const std::string warning = "would be sent unencrypted over http://";
  dir.write("remote.toml", graph("http://api.example.com/v1", "FLOWBATCH_E2E_PLAIN_KEY"));
  auto remote = run_flowbatch({"validate", "remote.toml"}, dir.path());
  CHECK(remote.exit_code == 0);
  CHECK_MESSAGE(
      remote.err.find("remote.toml:3:12: warning: providers.p: this provider's key " + warning) != std::string::npos,
      remote.err);
  for (const auto& [name, url, key] :
       {std::tuple{"tls.toml", "https://api.example.com/v1", "FLOWBATCH_E2E_PLAIN_KEY"},
        std::tuple{"local.toml", "http://127.0.0.1:8080/v1", "FLOWBATCH_E2E_PLAIN_KEY"},
        std::tuple{"localhost.toml", "http://localhost:8080/v1", "FLOWBATCH_E2E_PLAIN_KEY"},
        std::tuple{"nokey.toml", "http://api.example.com/v1", ""}}) {
    dir.write(name, graph(url, key));
    auto r = run_flowbatch({"validate", name}, dir.path());
    CHECK(r.exit_code == 0);
    CHECK_MESSAGE(r.err.find(warning) == std::string::npos, name);
  }
}
