// The HTML run report as its readers see it: rendered by a real browser (headless Chromium,
// Debian package chromium), without network, with data in its charts.
#include <doctest/doctest.h>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;

TEST_CASE("the HTML report renders in headless Chromium with data in its charts") {
  REQUIRE_MESSAGE(run_process({"sh", "-c", "command -v chromium"}).exit_code == 0,
                  "chromium is missing: install the Debian package chromium (make deps)");
  // Some 5xx (retried) and two prompts the server refuses (400: dead-lettered), for the error tables.
  MockServer mock({"--latency-ms", "5", "--error-rate", "0.05", "--max-prompt-chars", "100"});
  TempDir dir;
  dir.write("graph.toml", openai_chat_graph(mock.base_url(), "max_concurrency = 4", "max_attempts = 10"));
  dir.write("in.jsonl", make_jsonl(200) + R"({"id":"poison0","text":")" + std::string(200, 'x') + "\"}\n" +
                            R"({"id":"poison1","text":")" + std::string(200, 'y') + "\"}\n");
  const ProcessResult run = run_flowbatch(
      {"run", "graph.toml", "--set", "pipeline.report_html=report.html", "--set", "pipeline.report_interval_ms=100"},
      dir.path());
  REQUIRE_MESSAGE(run.exit_code == 3, run.err);  // the two refused prompts are in the dead letter

  // No network for the browser: the page must need none. Its own profile, so runs never share one.
  const std::vector<std::string> browser = {"chromium",
                                            "--headless",
                                            "--no-sandbox",
                                            "--disable-gpu",
                                            "--no-first-run",
                                            "--proxy-server=127.0.0.1:9",
                                            "--user-data-dir=" + (dir / "profile").string(),
                                            "--enable-logging=stderr",
                                            "--v=0"};
  auto with = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {"timeout", "60"};
    argv.insert(argv.end(), browser.begin(), browser.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("file://" + (dir / "report.html").string());
    return run_process(argv);
  };
  const ProcessResult dom = with({"--dump-dom"});
  REQUIRE_MESSAGE(dom.exit_code == 0, dom.err);
  // The browser's own DOM: the charts' lines have points, the graph's boxes are there.
  CHECK(dom.out.find("<polyline class=\"series\" points=\"56.0,") != std::string::npos);
  CHECK(dom.out.find("<rect") != std::string::npos);
  CHECK(dom.err.find("Uncaught") == std::string::npos);
  // Each error class's top messages with example ids, and the slowest requests, as rows.
  const auto table = [&](const std::string& id) {
    const auto begin = dom.out.find("<table id=\"" + id + "\">");
    REQUIRE_MESSAGE(begin != std::string::npos, "no table ", id);
    return dom.out.substr(begin, dom.out.find("</table>", begin) - begin);
  };
  const std::string messages = table("error-messages");
  CHECK(messages.find("<td>invalid_request</td>") != std::string::npos);
  CHECK(messages.find("poison0") != std::string::npos);
  CHECK(messages.find("<td>server</td>") != std::string::npos);
  const std::string slowest = table("slowest");
  std::size_t rows = 0;
  for (auto at = slowest.find("<tr>"); at != std::string::npos; at = slowest.find("<tr>", at + 1)) ++rows;
  CHECK(rows == 11);                                       // its heading and the ten slowest of some 200 requests
  CHECK(slowest.find("<td>c</td>") != std::string::npos);  // the call node

  const ProcessResult shot =
      with({"--hide-scrollbars", "--window-size=1100,1400", "--screenshot=" + (dir / "report.png").string()});
  REQUIRE_MESSAGE(shot.exit_code == 0, shot.err);
  CHECK(std::filesystem::file_size(dir / "report.png") > 20000);  // a blank page is a few KB
}
