// A provider that no request can get past (a key it refuses, a server never reached) stops the
// run at once, resumable: nothing is dead-lettered for a cause that is not the items'.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch::test;

namespace {

std::string fail_fast_graph(const std::string& base_url) {
  return fmt::format(R"(
[pipeline]
progress = "off"
[providers.api]
type = "openai"
base_url = "{}"
api_key_env = "FAIL_FAST_TEST_KEY"
max_concurrency = 4
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in", "again"]
provider = "api"
model = "m"
prompt = "{{{{text}}}}"
[retries.again]
inputs = ["c.error"]
max_attempts = 3
initial_backoff_ms = 10
[dead_letters.failed]
inputs = ["again.exhausted", "in.invalid"]
path = "failed.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     base_url);
}

int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::size_t lines_in(const std::filesystem::path& file) {
  return std::filesystem::exists(file) ? read_jsonl(file).size() : 0;
}

}  // namespace

TEST_CASE(
    "a key the API refuses stops the run after the first answers, exit 75, nothing dead-lettered, and once fixed it "
    "finishes") {
  MockServer server({"--api-key", "right-key-123456"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(300));
  dir.write("g.toml", fail_fast_graph(server.base_url()));
  {
    ScopedEnv key("FAIL_FAST_TEST_KEY", "wrong-key-987654");
    auto run = run_flowbatch({"g.toml"}, dir.path());
    CHECK(run.exit_code == 75);
    CHECK_MESSAGE(
        run.err.find("provider \"api\": the API refused the request's credentials (HTTP 401") != std::string::npos,
        run.err);
    CHECK(run.err.find("wrong-key-987654") == std::string::npos);  // never the key itself
    CHECK(lines_in(dir / "failed.jsonl") == 0);
    CHECK(server.stats().at("requests").to_number<int>() <= 4 * 2);  // the first few, not all 300
  }
  ScopedEnv key("FAIL_FAST_TEST_KEY", "right-key-123456");
  auto fixed = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE(fixed.exit_code == 0, fixed.err);
  const auto out = count_ids(read_jsonl(dir / "out.jsonl"));
  CHECK(out.size() == 300);
  for (const auto& [id, n] : out) CHECK_MESSAGE(n == 1, id);
}

TEST_CASE("a server never reached (a wrong base_url) stops the run at once, exit 75, nothing dead-lettered") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(300));
  dir.write("g.toml", fail_fast_graph(fmt::format("http://127.0.0.1:{}/v1", closed_port())));
  ScopedEnv key("FAIL_FAST_TEST_KEY", "some-key-123456");
  auto run = run_flowbatch({"g.toml"}, dir.path());
  CHECK(run.exit_code == 75);
  CHECK_MESSAGE(run.err.find("provider \"api\": cannot reach the server") != std::string::npos, run.err);
  CHECK(run.err.find("check base_url") != std::string::npos);
  CHECK(lines_in(dir / "failed.jsonl") == 0);
  CHECK(lines_in(dir / "out.jsonl") == 0);
}
