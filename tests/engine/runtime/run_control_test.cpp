// The run's endpoint (pipeline.listen) on a real run against flowbatch-mock over loopback:
// /metrics (checked by promtool when it is installed), /status, pause, resume, limits, the token.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <regex>
#include <sstream>
#include <thread>

#include "engine/core/exceptions.h"
#include "tests/mock_server/http_client.h"
#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

constexpr const char* kProviderKey = "sk-watch-test-key-0123456789";  // the provider's key: never shown
constexpr const char* kToken = "listen-token-abcdef0123456789";       // the endpoint's

/// openai_chat_graph listening on a free loopback port, its provider sending kProviderKey in a header.
std::string graph(const std::string& base_url, const std::string& provider_keys) {
  return openai_chat_graph(base_url, provider_keys + "\nheaders = { X-Key = \"${WATCH_TEST_KEY}\" }", "");
}
const std::string kListen = "pipeline.listen=127.0.0.1:0";
const std::string kNeedToken = "pipeline.listen_token_env=WATCH_TEST_TOKEN";

/// A run of the graph on a thread of its own, and its endpoint's address once it listens.
class BackgroundRun {
 public:
  BackgroundRun(const TempDir& dir, std::string toml, std::vector<std::string> overrides = {kListen})
      : thread_([this, &dir, toml = std::move(toml), overrides = std::move(overrides)] {
          result_ = run_text(toml, dir, overrides);
        }) {
    const auto file = dir / ".flowbatch/graph.db.listen";
    REQUIRE(eventually([&] { return std::filesystem::exists(file); }, std::chrono::seconds(20)));
    address_ = read_file(file);
    address_.pop_back();  // the newline
  }
  ~BackgroundRun() {
    if (thread_.joinable()) thread_.join();
  }
  std::string url(const std::string& path) const { return "http://" + address_ + path; }
  InProcessRun& join() {
    thread_.join();
    return result_;
  }

 private:
  InProcessRun result_;
  std::thread thread_;
  std::string address_;
};

test::HttpResponse http_get(const BackgroundRun& run, const std::string& path) {
  return perform(HttpCall{"GET", run.url(path), "", {}});
}

test::HttpResponse http_post(const BackgroundRun& run, const std::string& path, const std::string& body = "{}",
                             const std::string& token = "") {
  std::vector<std::string> headers = {"Content-Type: application/json"};
  if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
  return perform(HttpCall{"POST", run.url(path), body, headers});
}

/// The sum of every sample of a metric family (`name{...} value` lines).
double metric_sum(const std::string& text, const std::string& name) {
  double sum = 0;
  const std::regex line("^" + name + R"(\{[^}]*\} ([0-9.e+-]+)$)", std::regex::multiline);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), line); it != std::sregex_iterator(); ++it)
    sum += std::stod((*it)[1].str());
  return sum;
}

std::int64_t mock_requests(const MockServer& mock) { return mock.stats().at("requests").as_int64(); }

/// promtool's verdict on an exposition (`make deps` installs it: Debian package prometheus).
void check_with_promtool(const TempDir& dir, const std::string& text) {
  REQUIRE_MESSAGE(run_process({"sh", "-c", "command -v promtool"}).exit_code == 0,
                  "promtool is missing: install the Debian package prometheus (make deps)");
  const auto file = dir.write("metrics.txt", text);
  const ProcessResult r = run_process({"sh", "-c", "promtool check metrics < " + file.string()});
  CHECK_MESSAGE(r.exit_code == 0, std::string(r.out + r.err));
}

/// Every metric family of an exposition has its row in docs/watching.md.
void check_documented(const std::string& text) {
  const std::string docs = read_file(source_path("docs/watching.md"));
  std::istringstream lines(text);
  std::string line;
  int families = 0;
  while (std::getline(lines, line)) {
    if (!line.starts_with("# TYPE ")) continue;
    const std::string name = line.substr(7, line.find(' ', 7) - 7);
    ++families;
    CHECK_MESSAGE(docs.find("`" + name + "`") != std::string::npos, name, " is not in docs/watching.md");
  }
  CHECK(families > 30);
}

}  // namespace

TEST_CASE("pause stops new requests at the server, /metrics agrees with it, resume finishes every item once") {
  ScopedEnv key("WATCH_TEST_KEY", kProviderKey);
  MockServer mock({"--latency-ms", "20"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(300));
  BackgroundRun run(dir, graph(mock.base_url(), "max_concurrency = 4"));
  REQUIRE(eventually([&] { return mock_requests(mock) >= 20; }));

  REQUIRE(http_post(run, "/pause").status == 200);
  CHECK(http_get(run, "/status").json().at("status") == "paused");
  // Requests under way finish; then the count at the server stands still.
  REQUIRE(eventually([&] {
    const auto s = http_get(run, "/status").json();
    return s.at("providers").at(0).at("in_flight").as_int64() == 0 && mock.stats().at("in_flight").as_int64() == 0;
  }));
  const std::int64_t at_pause = mock_requests(mock);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // long enough for ~60 requests were it not paused
  CHECK(mock_requests(mock) == at_pause);

  const std::string metrics = http_get(run, "/metrics").body;
  CHECK(metric_sum(metrics, "flowbatch_requests_total") == doctest::Approx(static_cast<double>(at_pause)));
  CHECK(metric_sum(metrics, "flowbatch_run_paused") == 1);
  CHECK(metrics.find(kProviderKey) == std::string::npos);
  check_with_promtool(dir, metrics);
  check_documented(metrics);

  REQUIRE(http_post(run, "/resume").status == 200);
  InProcessRun& done = run.join();
  CHECK(done.report.exit_code == 0);
  CHECK(done.report.requests == static_cast<std::uint64_t>(mock_requests(mock)));
  CHECK(done.report.requests >= static_cast<std::uint64_t>(at_pause));
  const auto ids = count_ids(read_jsonl(dir / "out.jsonl"));
  CHECK(ids.size() == 300);
  for (const auto& [id, n] : ids) CHECK_MESSAGE(n == 1, id);
  CHECK(done.console.find("paused") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / ".flowbatch/graph.db.listen"));  // gone with the run
}

TEST_CASE("a requests_per_minute lowered while running holds at the server within a second") {
  MockServer mock({"--latency-ms", "2"});
  ScopedEnv key("WATCH_TEST_KEY", kProviderKey);
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(400));
  BackgroundRun run(dir, graph(mock.base_url(), "max_concurrency = 8\nrequests_per_minute = 6000"));
  REQUIRE(eventually([&] { return mock_requests(mock) >= 10; }));

  const auto answer = http_post(run, "/limits", R"({"provider": "p", "requests_per_minute": 600})");
  REQUIRE_MESSAGE(answer.status == 200, answer.body);
  CHECK(answer.json().at("providers").at(0).at("requests_per_minute").as_double() == doctest::Approx(600));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // what "within a second" allows
  const std::int64_t from = mock_requests(mock);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  // 10 a second now, plus at most the bucket's one second of budget: never the 100 a second of before.
  CHECK(mock_requests(mock) - from <= 21);
  CHECK(metric_sum(http_get(run, "/metrics").body, "flowbatch_provider_requests_per_minute_limit") == 600);

  REQUIRE(http_post(run, "/limits", R"({"provider": "p", "requests_per_minute": 60000})").status == 200);
  CHECK(run.join().report.exit_code == 0);
}

TEST_CASE("max_concurrency raised beyond the value the run started with holds more requests at the server") {
  MockServer mock({"--latency-ms", "100", "--latency-sigma", "0"});
  ScopedEnv key("WATCH_TEST_KEY", kProviderKey);
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(400));
  BackgroundRun run(dir, graph(mock.base_url(), "max_concurrency = 2\nmax_concurrency_limit = 32"));
  REQUIRE(eventually([&] { return mock_requests(mock) >= 4; }));
  CHECK(mock.stats().at("peak_concurrency").as_int64() <= 2);

  const auto answer = http_post(run, "/limits", R"({"provider": "p", "max_concurrency": 8})");
  REQUIRE_MESSAGE(answer.status == 200, answer.body);
  CHECK(answer.json().at("providers").at(0).at("max_concurrency").as_int64() == 8);
  REQUIRE(eventually([&] { return mock.stats().at("peak_concurrency").as_int64() >= 8; }, std::chrono::seconds(10)));
  CHECK(mock.stats().at("peak_concurrency").as_int64() == 8);
  const auto beyond = http_post(run, "/limits", R"({"provider": "p", "max_concurrency": 33})");
  CHECK(beyond.status == 400);
  CHECK(beyond.body.find("max_concurrency_limit") != std::string::npos);
  // Lowered again, then raised to the ceiling: the slots once opened are the gate's to hold.
  REQUIRE(http_post(run, "/limits", R"({"provider": "p", "max_concurrency": 1})").status == 200);
  REQUIRE(http_post(run, "/limits", R"({"provider": "p", "max_concurrency": 32})").status == 200);
  const InProcessRun& done = run.join();
  CHECK(done.report.exit_code == 0);
  CHECK(mock.stats().at("peak_concurrency").as_int64() <= 32);
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")).size() == 400);
}

TEST_CASE("control requests need the token when one is set but reads do not, and neither shows it") {
  MockServer mock({"--latency-ms", "20"});
  ScopedEnv key("WATCH_TEST_KEY", kProviderKey);
  ScopedEnv token("WATCH_TEST_TOKEN", kToken);
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(200));
  BackgroundRun run(dir, graph(mock.base_url(), "max_concurrency = 2"), {kListen, kNeedToken});

  CHECK(http_post(run, "/pause").status == 401);
  CHECK(http_post(run, "/pause", "{}", "wrong-token-abcdef0123456789").status == 401);
  CHECK(http_post(run, "/drain", "{}", std::string(kToken).substr(0, 10)).status == 401);
  CHECK(http_get(run, "/status").json().at("status") == "running");  // none of them took effect

  CHECK(http_post(run, "/limits", R"({"provider": "nope", "max_concurrency": 1})", kToken).status == 400);
  // Above max_concurrency_limit (256): the lane is built for no more.
  CHECK(http_post(run, "/limits", R"({"provider": "p", "max_concurrency": 1000})", kToken).status == 400);
  CHECK(http_post(run, "/limits", R"({"provider": "p", "speed": 1})", kToken).status == 400);
  CHECK(http_post(run, "/limits", "not json", kToken).status == 400);
  CHECK(http_get(run, "/nothing").status == 404);
  CHECK(http_get(run, "/pause").status == 405);

  for (const char* path : {"/metrics", "/status"}) {
    const std::string body = http_get(run, path).body;
    CHECK(body.find(kToken) == std::string::npos);
    CHECK(body.find(kProviderKey) == std::string::npos);
  }
  const auto drained = http_post(run, "/drain", "{}", kToken);
  CHECK(drained.status == 200);
  const InProcessRun& done = run.join();
  CHECK(done.report.exit_code == 130);  // drained as Ctrl-C is: resumable
  CHECK(done.console.find(kToken) == std::string::npos);
}

TEST_CASE("a followed file's lag is in /metrics (unit bytes), /status and the HTML report while it is held back") {
  MockServer mock({"--latency-ms", "200"});
  ScopedEnv key("WATCH_TEST_KEY", kProviderKey);
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(300));
  BackgroundRun run(dir, graph(mock.base_url(), "max_concurrency = 2"),
                    {kListen, "sources.in.follow=true", "pipeline.max_in_flight=8",
                     "pipeline.report_html=" + (dir / "report.html").string(), "pipeline.report_interval_ms=100"});
  // The in-flight limit holds the reader back: most of the file is not read, and it says so.
  std::string metrics;
  REQUIRE(eventually(
      [&] {
        metrics = http_get(run, "/metrics").body;
        return metric_sum(metrics, "flowbatch_source_lag") > 0;
      },
      std::chrono::seconds(10)));
  CHECK(metrics.find(R"(flowbatch_source_lag{pipeline="graph",source="in",unit="bytes"} )") != std::string::npos);
  CHECK(metrics.find("flowbatch_source_unacknowledged") == std::string::npos);  // a file has none
  check_with_promtool(dir, metrics);
  const auto lag = http_get(run, "/status").json().at("lag").as_array();
  REQUIRE(lag.size() == 1);
  CHECK(lag[0].at("unit") == "bytes");
  CHECK(lag[0].at("lag").to_number<double>() > 0);
  CHECK(eventually([&] {
    return std::filesystem::exists(dir / "report.html") &&
           std::regex_search(read_file(dir / "report.html"), std::regex(R"(records \(following, lag [0-9,]+ bytes\))"));
  }));
  CHECK(http_post(run, "/drain").status == 200);
  CHECK(run.join().report.exit_code == 130);
}

TEST_CASE("a graph listening beyond loopback without a token is refused, naming the key") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  ScopedEnv key("WATCH_TEST_KEY", kProviderKey);
  const CompileResult open = compile_text(graph("http://127.0.0.1:1/v1", ""), dir, {"pipeline.listen=0.0.0.0:9464"});
  CHECK_FALSE(open.plan);
  CHECK(open.diagnostics.str().find("pipeline.listen") != std::string::npos);
  CHECK(open.diagnostics.str().find("listen_token_env") != std::string::npos);
  const CompileResult bad = compile_text(graph("http://127.0.0.1:1/v1", ""), dir, {"pipeline.listen=9464"});
  CHECK_FALSE(bad.plan);
  ScopedEnv token("WATCH_TEST_TOKEN", kToken);
  const CompileResult guarded =
      compile_text(graph("http://127.0.0.1:1/v1", ""), dir, {"pipeline.listen=0.0.0.0:9464", kNeedToken});
  CHECK_MESSAGE(guarded.plan, guarded.diagnostics.str());
}

TEST_CASE("a port another process holds blocks the run before anything is touched") {
  MockServer mock;
  ScopedEnv key("WATCH_TEST_KEY", kProviderKey);
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(5));
  // RunBlocked: `flowbatch run` reports it and exits 75, as for a state another run holds.
  CHECK_THROWS_WITH_AS(
      run_text(graph(mock.base_url(), ""), dir, {fmt::format("pipeline.listen=127.0.0.1:{}", mock.port())}),
      doctest::Contains("pipeline.listen: cannot listen on"), RunBlocked);
  CHECK_FALSE(std::filesystem::exists(dir / "out.jsonl"));
  CHECK_FALSE(std::filesystem::exists(dir / ".flowbatch/graph.db"));
}
