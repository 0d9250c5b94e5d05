// Keys never leak: the built flowbatch program against servers on loopback that echo the key
// back (flowbatch-mock's 401 quotes it as OpenAI's does; nginx returns it in a long error body;
// a 200 answer that contains it), in whatever form and wherever the echo lands.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <filesystem>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"
#include "tests/support/nginx.h"
#include "tests/support/postgres.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

/// in.jsonl → call c (provider p, given as TOML) → out.jsonl; failures → dead.jsonl.
std::string graph_with(const std::string& provider_toml, const std::string& call_extra = "") {
  return fmt::format(R"(
[pipeline]
progress = "off"
[providers.p]
{}
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "p"
model = "m"
prompt = "{{{{text}}}}"
{}
[dead_letters.dead]
inputs = ["c.error", "in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     provider_toml, call_extra);
}

/// in.jsonl → a call to the command_provider plugin's `command` provider (its keys given as TOML
/// lines) → out.jsonl.
std::string command_graph(const std::string& provider_lines) {
  return R"([pipeline]
plugins = ["command_provider"]
[providers.local]
type = "command"
)" + provider_lines +
         R"(
[sources.in]
path = "in.jsonl"
[calls.c]
inputs = ["in"]
provider = "local"
prompt = "{{text}}"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)";
}

/// Every byte of every file under `dir` (outputs, dead letters, the state and its -wal).
std::string all_files(const fs::path& dir) {
  std::string all;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) all += read_file(e.path());
  return all;
}

}  // namespace

TEST_CASE("a key given as ${VAR} in a header is redacted from a 401 that echoes it, and from validate and graph") {
  const std::string key = "hdr-SECRET-key-271828182845";
  ScopedEnv env("FLOWBATCH_E2E_HEADER_KEY", key);
  MockServer server({"--api-key", "the-right-key-entirely"});  // refuses ours, quoting it
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(3));
  dir.write("g.toml", graph_with(fmt::format(R"(type = "http"
url = "{}/chat/completions"
headers = {{ Authorization = "Bearer ${{FLOWBATCH_E2E_HEADER_KEY}}" }}
body = {{ model = "m", messages = [{{ role = "user", content = "{{{{text}}}}" }}] }}
result_pointer = "/choices/0/message/content"
)",
                                             server.base_url())));
  auto run = run_flowbatch({"g.toml", "--report", "report.json"}, dir.path());
  auto dot = run_flowbatch({"graph", "g.toml"}, dir.path());
  auto validate = run_flowbatch({"validate", "g.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 75, run.err);                                         // the key was refused
  CHECK(run.err.find("Incorrect API key provided: [REDACTED]") != std::string::npos);  // the echo, blanked
  CHECK(dot.exit_code == 0);
  CHECK(validate.exit_code == 0);
  const std::vector<std::string> shown = {
      run.out, run.err, dot.out, dot.err, validate.out, validate.err, all_files(dir.path())};
  REQUIRE(shown.size() == 7);
  for (const std::string& text : shown) CHECK(text.find(key) == std::string::npos);
}

TEST_CASE("a key cut off in a long error body is redacted before the message is shortened") {
  if (Nginx::program().empty()) {
    MESSAGE("nginx is not installed (make deps installs it): skipped");
    return;
  }
  const std::string key = "sk-SECRETKEY-0123456789abcdef";
  ScopedEnv env("FLOWBATCH_E2E_CUT_KEY", key);
  TempDir dir;
  const int port = free_port();
  // A 400 whose plain-text body quotes the Authorization header after 280 bytes: where flowbatch
  // used to cut error bodies (300 bytes), 12 characters of the key were left.
  Nginx nginx(dir,
              fmt::format(R"(
  server {{
    listen 127.0.0.1:{0};
    access_log off;
    location / {{
      default_type text/plain;
      return 400 '{1} $http_authorization and more text after it';
    }}
  }})",
                          port, std::string(280, 'x')),
              {port});
  dir.write("in.jsonl", make_jsonl(2));
  dir.write("g.toml", graph_with(fmt::format("type = \"openai\"\nbase_url = \"http://127.0.0.1:{}/v1\"\n"
                                             "api_key_env = \"FLOWBATCH_E2E_CUT_KEY\"",
                                             port)));
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 3, run.err);  // 400s are dead-lettered
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 2);
  const std::string message(dead[0].at("error").at("message").as_string());
  CHECK(message.find("Bearer [REDACTED]") != std::string::npos);
  CHECK(message.size() < 1100);  // still shortened, after redaction
  for (const std::string& text : {run.err, read_file(dir / "dead.jsonl")})
    CHECK(text.find(key.substr(0, 8)) == std::string::npos);
}

TEST_CASE("a 200 that echoes the key is redacted in the outputs and in the state's cache, which keeps no headers") {
  const std::string key = "sk-ok-SECRET-161803398874";
  ScopedEnv env("FLOWBATCH_E2E_ECHO_KEY", key);
  MockServer server({"--replies", "your key is " + key + " and the answer is 42"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(4));
  dir.write("g.toml",
            graph_with(fmt::format("type = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"FLOWBATCH_E2E_ECHO_KEY\"",
                                   server.base_url()),
                       "cache = true"));
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 4);
  for (const auto& record : out)
    CHECK(record.at("output").as_string() == "your key is [REDACTED] and the answer is 42");
  const std::string state = all_files(dir / ".flowbatch");
  CHECK(state.find("the answer is 42") != std::string::npos);  // the answers are cached...
  CHECK(state.find(key) == std::string::npos);                 // ...redacted
  CHECK(state.find("x-request-id") == std::string::npos);      // and without the response's headers
  // A second run answers from the cache, the same way.
  auto again = run_flowbatch({"g.toml", "--fresh"}, dir.path());
  CHECK_MESSAGE(again.exit_code == 0, again.err);
  CHECK(all_files(dir.path()).find(key) == std::string::npos);
}

TEST_CASE("a key too short to be redacted is warned about once, without printing it") {
  ScopedEnv env("FLOWBATCH_E2E_SHORT_KEY", "k3y9");
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  dir.write("g.toml", graph_with(R"(type = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "FLOWBATCH_E2E_SHORT_KEY")") +
                          R"(
[providers.q]
type = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "FLOWBATCH_E2E_SHORT_KEY"
)");
  auto validate = run_flowbatch({"validate", "g.toml"}, dir.path());
  CHECK(validate.exit_code == 0);
  const std::string warning = "shorter than 6 characters";
  const auto first = validate.err.find(warning);
  CHECK(first != std::string::npos);
  CHECK(validate.err.find(warning, first + 1) == std::string::npos);  // once, though two providers use it
  CHECK(validate.err.find("k3y9") == std::string::npos);
}

TEST_CASE("the program runs with core dumps off: RLIMIT_CORE is 0, as its children inherit") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  dir.write(
      "g.toml",
      command_graph(
          R"(command = ["sh", "-c", "cat > /dev/null; grep 'Max core file size' /proc/self/limits | tr -s ' '"])"));
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 1);
  CHECK(out[0].at("output").as_string() == "Max core file size 0 0 bytes ");  // as tr leaves it
}

TEST_CASE("a command provider's program gets a minimal environment plus what pass_env names, never the keys") {
  ScopedEnv key("FLOWBATCH_E2E_CHILD_KEY", "sk-child-SECRET-000111222");
  ScopedEnv wanted("FLOWBATCH_E2E_WANTED", "passed-on");
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  dir.write(
      "g.toml",
      command_graph(
          R"(command = ["sh", "-c", "cat > /dev/null; echo \"wanted=$FLOWBATCH_E2E_WANTED key=$FLOWBATCH_E2E_CHILD_KEY path=$${PATH:+set}\""]
pass_env = ["FLOWBATCH_E2E_WANTED"])"));
  auto plain = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(plain.exit_code == 0, plain.err);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 1);
  CHECK(out[0].at("output").as_string() == "wanted=passed-on key= path=set");
}

TEST_CASE("a PostgreSQL password given as ${VAR}, in a URL or in key=value pairs, is in no error, log or graph dump") {
  REQUIRE_POSTGRES_OR_SKIP();
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", 5);
  dir.write("graph.toml", fmt::format(R"([pipeline]
progress = "off"
[sources.in]
type = "postgres_queue"
connection = "${{FB_TEST_PG_URL}}"
table = "jobs"
until_empty = true
[sinks.out]
inputs = ["in"]
type = "postgres"
connection = "host=127.0.0.1 port={} user=flowbatch dbname=postgres password=${{FB_TEST_PG_PASSWORD}}"
table = "results"
)",
                                      pg.port()));
  {
    ScopedEnv url("FB_TEST_PG_URL", pg.url("wrong-pa55word-1"));
    ScopedEnv password("FB_TEST_PG_PASSWORD", "wrong-pa55word-2");
    const ProcessResult run = run_flowbatch({"run", "graph.toml"}, dir.path());
    CHECK(run.exit_code == 1);  // fatal: the server refuses
    CHECK_MESSAGE(run.err.find("password authentication failed") != std::string::npos, run.err);
    CHECK(run.err.find(fmt::format("127.0.0.1:{}", pg.port())) != std::string::npos);  // which server, not who
    const std::string everything = run.out + run.err + all_files(dir.path());
    CHECK(everything.find("wrong-pa55word") == std::string::npos);
    const ProcessResult dump = run_flowbatch({"graph", "graph.toml"}, dir.path());
    CHECK(dump.out.find("127.0.0.1") != std::string::npos);
    CHECK(dump.out.find("wrong-pa55word") == std::string::npos);
  }
  ScopedEnv url("FB_TEST_PG_URL", pg.url());
  ScopedEnv password("FB_TEST_PG_PASSWORD", PostgresProcess::kPassword);
  const ProcessResult run = run_flowbatch({"run", "graph.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  CHECK(pg.value("SELECT count(*) FROM results") == "5");
  CHECK((run.out + run.err + all_files(dir.path())).find(PostgresProcess::kPassword) == std::string::npos);
}
