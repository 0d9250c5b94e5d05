// Item data must not steer requests: what an item's fields can do to the `http` provider's URL,
// headers and body, seen from the server's side (flowbatch-mock's /echo route, over real HTTP).
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <chrono>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
/// A graph sending each item of in.jsonl through an `http` provider with these keys (TOML lines);
/// answers (the server's echo, as JSON) go to out.jsonl, failures straight to dead.jsonl.
std::string http_graph(const std::string& provider_keys) {
  return fmt::format(R"(
[pipeline]
progress = "off"
[providers.p]
type = "http"
{}
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "p"
prompt = "unused"
output_field = "echo"
[dead_letters.dead]
inputs = ["c.error", "in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     provider_keys);
}

struct Outcome {
  ProcessResult run;
  std::map<std::string, boost::json::object> out;   // by id
  std::map<std::string, boost::json::object> dead;  // by id
  std::int64_t requests = 0;                        // as the run counted them
};

Outcome run_graph(const TempDir& dir, const std::string& provider_keys, const std::string& items) {
  dir.write("in.jsonl", items);
  dir.write("g.toml", http_graph(provider_keys));
  Outcome o;
  o.run = run_flowbatch({"g.toml", "--report", "report.json"}, dir.path());
  for (auto& r : read_jsonl(dir / "out.jsonl")) o.out[std::string(r.at("id").as_string())] = r;
  if (std::filesystem::exists(dir / "dead.jsonl"))
    for (auto& r : read_jsonl(dir / "dead.jsonl")) o.dead[std::string(r.at("id").as_string())] = r;
  const auto report = boost::json::parse(read_file(dir / "report.json")).as_object();
  o.requests = report.at("requests").at("count").to_number<std::int64_t>();
  return o;
}

std::string error_class(const boost::json::object& dead) {
  return std::string(dead.at("error").at("class").as_string());
}
std::string error_message(const boost::json::object& dead) {
  return std::string(dead.at("error").at("message").as_string());
}
}  // namespace

TEST_CASE("a header value with CR, LF or NUL from an item fails it as invalid_input, unsent") {
  MockServer server;
  TempDir dir;
  const auto o = run_graph(dir, fmt::format("url = \"{}/echo\"\nheaders = {{ X-Tag = \"{{{{tag}}}}\" }}", server.url()),
                           R"({"id": "good", "tag": "v"}
{"id": "crlf", "tag": "v\r\nX-Injected: yes"}
{"id": "lf", "tag": "v\nX-Injected: yes"}
{"id": "nul", "tag": "v\u0000w"}
)");
  CHECK_MESSAGE(o.run.exit_code == 3, o.run.err);
  REQUIRE(o.out.size() == 1);
  CHECK(o.out.count("good") == 1);
  REQUIRE(o.dead.size() == 3);
  for (const auto& [id, d] : o.dead) {
    CAPTURE(id);
    CHECK(error_class(d) == "invalid_input");
    CHECK(error_message(d).find("X-Tag") != std::string::npos);
  }
  CHECK(server.stats().at("requests").to_number<int>() == 1);  // the three were never sent
  CHECK(o.requests == 1);                                      // nor counted as requests
}

TEST_CASE("values rendered into a URL are percent-encoded: they stay one path segment or query value") {
  MockServer server;
  TempDir dir;
  const auto o =
      run_graph(dir, fmt::format("url = \"{}/echo/score/{{{{p}}}}?q={{{{q}}}}\"\nmethod = \"GET\"", server.url()),
                R"({"id": "a", "p": "../ok?x=", "q": "1&admin=true#f"}
{"id": "b", "p": "..", "q": "plain-text_1.0~"}
)");
  CHECK_MESSAGE(o.run.exit_code == 0, o.run.err);
  REQUIRE(o.out.size() == 2);
  CHECK(o.out.at("a").at("echo").at("target").as_string() == "/echo/score/..%2Fok%3Fx%3D?q=1%26admin%3Dtrue%23f");
  CHECK(o.out.at("b").at("echo").at("target").as_string() == "/echo/score/%2E%2E?q=plain-text_1.0~");
}

TEST_CASE("a rendered URL may not leave http(s), nor change the scheme and host its template writes out") {
  MockServer server;
  TempDir dir;
  SUBCASE("a whole URL from an item: file:// is refused, raw or not") {
    const auto o = run_graph(dir, "url = \"{{raw:u}}\"\nmethod = \"GET\"",
                             fmt::format(R"({{"id": "ok", "u": "{}/echo/x"}}
{{"id": "file", "u": "file:///etc/passwd"}}
{{"id": "gopher", "u": "gopher://127.0.0.1:1/x"}}
)",
                                         server.url()));
    CHECK(o.out.size() == 1);
    REQUIRE(o.dead.size() == 2);
    for (const auto& [id, d] : o.dead) {
      CAPTURE(id);
      CHECK(error_class(d) == "invalid_input");
      CHECK(read_file(dir / "dead.jsonl").find("root:") == std::string::npos);  // the file was never read
    }
    TempDir other;
    const auto plain = run_graph(other, "url = \"{{u}}\"",
                                 R"({"id": "file", "u": "file:///etc/passwd"})"
                                 "\n");
    REQUIRE(plain.dead.size() == 1);
    CHECK(error_class(plain.dead.at("file")) == "invalid_input");
  }
  SUBCASE("a raw value after the host cannot move the request to another host") {
    const auto o = run_graph(dir, fmt::format("url = \"{}{{{{raw:path}}}}\"\nmethod = \"GET\"", server.url()),
                             R"({"id": "ok", "path": "/echo/fine"}
{"id": "userinfo", "path": "@127.0.0.2:1/x"}
{"id": "port", "path": ":1/x"}
)");
    REQUIRE(o.out.size() == 1);
    CHECK(o.out.at("ok").at("echo").at("target").as_string() == "/echo/fine");
    REQUIRE(o.dead.size() == 2);
    for (const auto& [id, d] : o.dead) {
      CAPTURE(id);
      CHECK(error_class(d) == "invalid_input");
      CHECK(error_message(d).find("host") != std::string::npos);
    }
  }
  CHECK(server.stats().at("requests").to_number<int>() == 1);
}

TEST_CASE("{{json:field}} in a string body inserts a JSON string: a quote in the data cannot rewrite the JSON") {
  MockServer server;
  TempDir dir;
  const std::string evil = R"(a"}, "admin": true, "x": {"y": ")";
  boost::json::object item{{"id", "evil"}, {"name", evil}};
  const auto o = run_graph(
      dir, fmt::format("url = \"{}/echo\"\nbody = '{{\"name\": {{{{json:name}}}}, \"admin\": false}}'", server.url()),
      boost::json::serialize(item) + "\n");
  CHECK_MESSAGE(o.run.exit_code == 0, o.run.err);
  REQUIRE(o.out.size() == 1);
  const auto sent = boost::json::parse(o.out.at("evil").at("echo").at("body").as_string()).as_object();
  CHECK(sent.size() == 2);
  CHECK(sent.at("name").as_string() == evil);
  CHECK(sent.at("admin").as_bool() == false);
}

TEST_CASE("validate warns about a JSON string body with placeholders that are not escaped") {
  TempDir dir;
  dir.write("in.jsonl", "");
  dir.write("unsafe.toml",
            http_graph("url = \"http://127.0.0.1:9/x\"\nbody = '{\"name\": \"{{name}}\", \"n\": {{json:n}}}'"));
  dir.write("safe.toml",
            http_graph("url = \"http://127.0.0.1:9/x\"\nbody = '{\"name\": {{json:name}}, \"raw\": {{raw:doc}}}'"));
  const auto unsafe = run_flowbatch({"validate", "unsafe.toml"}, dir.path());
  const auto safe = run_flowbatch({"validate", "safe.toml"}, dir.path());
  CHECK_MESSAGE(unsafe.exit_code == 0, unsafe.err);
  CHECK(unsafe.err.find("{{name}} is inserted into this JSON body unescaped") != std::string::npos);
  CHECK(unsafe.err.find("{{json:name}}") != std::string::npos);
  CHECK(unsafe.err.find("{{n}}") == std::string::npos);  // the escaped one is not named
  CHECK_MESSAGE(safe.exit_code == 0, safe.err);
  CHECK(safe.err.find("unescaped") == std::string::npos);
}

TEST_CASE("an answer trickling in byte by byte is stopped by the low-speed limit, as a timeout") {
  MockServer server({"--trickle-rate", "1"});
  TempDir dir;
  dir.write("in.jsonl", R"({"id": "t1", "text": "hello"})"
                        "\n");
  dir.write("g.toml",
            openai_chat_graph(server.base_url(), "timeout_ms = 60000\nlow_speed_limit = 8\nlow_speed_time_ms = 1500",
                              "max_attempts = 1"));
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_flowbatch({"g.toml", "--progress", "off"}, dir.path());
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK_MESSAGE(r.exit_code == 3, r.err);
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 1);
  CHECK(error_class(dead[0]) == "timeout");
  CHECK(error_message(dead[0]).find("slower than 8 bytes/s") != std::string::npos);
  CHECK(took < std::chrono::seconds(15));  // not the 60 s time-out
}
