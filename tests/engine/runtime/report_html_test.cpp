// The HTML run report (pipeline.report_html) of a real run against flowbatch-mock: refreshed
// whole while the run goes, final at the end, self-contained, with data in its charts and no key.
#include <doctest/doctest.h>

#include <regex>
#include <thread>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

constexpr const char* kKey = "sk-report-test-key-0123456789";

/// The number of points of every polyline (chart series) in `html`.
std::vector<std::size_t> polyline_sizes(const std::string& html) {
  std::vector<std::size_t> sizes;
  const std::regex polyline(R"re(<polyline[^>]* points="([^"]*)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), polyline); it != std::sregex_iterator(); ++it) {
    const std::string points = (*it)[1].str();
    sizes.push_back(points.empty() ? 0 : static_cast<std::size_t>(std::count(points.begin(), points.end(), ' ')) + 1);
  }
  return sizes;
}

}  // namespace

TEST_CASE("the HTML report is rewritten whole while the run goes and is final at its end") {
  ScopedEnv key("REPORT_TEST_KEY", kKey);
  MockServer mock({"--latency-ms", "10"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(300));
  const std::string toml =
      openai_chat_graph(mock.base_url(), "max_concurrency = 4\nheaders = { X-Key = \"${REPORT_TEST_KEY}\" }", "");
  const auto file = dir / "out/report.html";
  InProcessRun done;
  std::thread run([&] {
    done = run_text(toml, dir, {"pipeline.report_html=" + file.string(), "pipeline.report_interval_ms=200"});
  });
  std::string during;
  const bool seen = eventually([&] {
    if (!std::filesystem::exists(file)) return false;
    during = read_file(file);
    return during.find("running") != std::string::npos;
  });
  run.join();
  REQUIRE(seen);
  CHECK(during.ends_with("</html>\n"));  // replaced at once, never written in place

  const std::string html = read_file(file);
  CHECK(done.report.exit_code == 0);
  CHECK(html.find(">finished<") != std::string::npos);
  CHECK(html.find("300 of 300 records") != std::string::npos);
  const auto sizes = polyline_sizes(html);
  CHECK(sizes.size() >= 5);
  for (std::size_t n : sizes) CHECK(n >= 3);
  CHECK(html.find("<script") == std::string::npos);  // nothing runs, nothing is fetched
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find(kKey) == std::string::npos);
  CHECK(html.find(">c<") != std::string::npos);  // the graph's nodes, by name
  CHECK(html.find("<table id=\"slowest\">") != std::string::npos);
  CHECK(html.find("<table id=\"error-messages\">") == std::string::npos);  // no failure: no such table
  CHECK_FALSE(std::filesystem::exists(dir / "out/report.html.tmp"));
}
