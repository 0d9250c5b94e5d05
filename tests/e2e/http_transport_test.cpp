// The transport under the providers, against servers nobody here wrote: TLS that is verified
// (a private CA through `ca_file`), HTTP/2 multiplexing many requests over one connection, and
// proxies taken from the environment as curl takes them. nginx plays the server and the proxy
// (`make deps` installs it; openssl makes the test's certificate).
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <set>
#include <sstream>

#include "engine/core/hash.h"
#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"
#include "tests/support/nginx.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

const char* kCanned =
    R"({"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}})";

bool have_tools() {
  if (Nginx::program().empty() || run_process({"/usr/bin/openssl", "version"}).exit_code != 0) {
    MESSAGE("nginx or openssl is not installed (make deps installs them): skipped");
    return false;
  }
  return true;
}

/// A self-signed certificate for localhost and 127.0.0.1: its own CA, so only a client told to
/// trust cert.pem accepts it.
void make_certificate(const TempDir& dir) {
  auto r = run_process({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", (dir / "key.pem").string(), "-out",
                        (dir / "cert.pem").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
}

/// The lines of nginx's access log, each split into words.
std::vector<std::vector<std::string>> log_lines(const std::string& log) {
  std::vector<std::vector<std::string>> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string word; words >> word;) w.push_back(word);
    if (!w.empty()) lines.push_back(std::move(w));
  }
  return lines;
}

}  // namespace

TEST_CASE("TLS is verified against ca_file, and HTTP/2 carries many requests over one connection") {
  if (!have_tools()) return;
  TempDir dir;
  make_certificate(dir);
  const int port = free_port();
  Nginx nginx(dir,
              fmt::format(R"(
  log_format transport '$server_protocol $connection $status';
  server {{
    listen 127.0.0.1:{0} ssl http2;
    ssl_certificate {1}/cert.pem;
    ssl_certificate_key {1}/key.pem;
    access_log {1}/access.log transport;
    location / {{
      default_type application/json;
      return 200 '{2}';
    }}
  }})",
                          port, dir.path().string(), kCanned),
              {port});
  dir.write("in.jsonl", make_jsonl(200));
  const std::string url = fmt::format("https://localhost:{}/v1", port);

  SUBCASE("trusted through ca_file: every request over HTTP/2, multiplexed") {
    dir.write("g.toml", openai_chat_graph(url, "ca_file = \"cert.pem\"\nmax_concurrency = 32", "max_attempts = 1"));
    auto r = run_flowbatch({"g.toml"}, dir.path());
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(count_ids(read_jsonl(dir / "out.jsonl")).size() == 200);
    const auto lines = log_lines(nginx.access_log());
    REQUIRE(lines.size() == 200);
    std::set<std::string> connections;
    for (const auto& w : lines) {
      CHECK(w.at(0) == "HTTP/2.0");
      CHECK(w.at(2) == "200");
      connections.insert(w.at(1));
    }
    // 32 requests in flight at a time, over far fewer connections: streams share them.
    CHECK(connections.size() <= 4);
  }

  SUBCASE("not trusted without it: the certificate is refused, nothing is sent, the run stops resumable") {
    dir.write("g.toml", openai_chat_graph(url, "max_concurrency = 4", "max_attempts = 1"));
    auto r = run_flowbatch({"g.toml"}, dir.path());
    CHECK(r.exit_code == 75);
    CHECK_MESSAGE(r.err.find("provider \"p\": cannot reach the server") != std::string::npos, r.err);
    CHECK(r.err.find("certificate") != std::string::npos);
    const bool no_dead_letters = !std::filesystem::exists(dir / "dead.jsonl") || read_jsonl(dir / "dead.jsonl").empty();
    CHECK(no_dead_letters);  // not the items' fault
    CHECK(nginx.access_log().empty());
  }
}

TEST_CASE("a ca_file that cannot be read is a configuration error at its key") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  dir.write("g.toml", openai_chat_graph("https://localhost:1/v1", "ca_file = \"missing.pem\"", "max_attempts = 1"));
  auto r = run_flowbatch({"validate", "g.toml"}, dir.path());
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("g.toml:8:11: error: providers.p.ca_file: cannot read") != std::string::npos);
}

TEST_CASE("http_proxy from the environment is honoured: requests reach the API through the proxy") {
  if (!have_tools()) return;
  MockServer api({"--latency-ms", "1"});
  TempDir dir;
  const int proxy_port = free_port();
  // A forward proxy: whatever host a request names, nginx passes it on to the mock API.
  Nginx proxy(dir,
              fmt::format(R"(
  log_format proxied '$request_method $request_uri $host $status';
  server {{
    listen 127.0.0.1:{0};
    access_log {1}/access.log proxied;
    location / {{
      proxy_pass http://127.0.0.1:{2};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }})",
                          proxy_port, dir.path().string(), api.port()),
              {proxy_port});
  dir.write("in.jsonl", make_jsonl(50));
  // A host that exists nowhere: only the proxy can make these requests succeed.
  dir.write("g.toml", openai_chat_graph("http://api.flowbatch.invalid/v1", "max_concurrency = 8", "max_attempts = 1"));
  {
    ScopedEnv via("http_proxy", fmt::format("http://127.0.0.1:{}", proxy_port));
    ScopedEnv no_exceptions("no_proxy", "");
    auto r = run_flowbatch({"g.toml"}, dir.path());
    CHECK_MESSAGE(r.exit_code == 0, r.err);
  }  // (the test's own requests to the mock's /stats go direct)
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 50);
  for (const auto& o : out)
    CHECK(o.at("output").as_string() == "mock reply " + hex16(stable_hash(std::string(o.at("text").as_string()), 0)));
  CHECK(api.stats().at("requests").to_number<int>() == 50);
  const auto lines = log_lines(proxy.access_log());
  REQUIRE(lines.size() == 50);
  CHECK(lines[0] == std::vector<std::string>{"POST", "/v1/chat/completions", "api.flowbatch.invalid", "200"});
}
