#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include "engine/core/hash.h"
#include "nodes/sinks/openai_batch.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
std::string graph(const std::string& sink_keys) {
  return R"(
[sources.in]
path = "in.jsonl"
[sinks.out]
inputs = ["in"]
)" + sink_keys +
         "\n";
}
}  // namespace

TEST_CASE("jsonl sink: the id is added unless a field holds it — fields selects and orders") {
  TempDir dir;
  dir.write("in.jsonl", "{\"text\": \"a\", \"n\": 1}\n{\"id\": \"own\", \"text\": \"b\"}\n");
  run_text(graph("path = \"out.jsonl\""), dir);
  CHECK(read_file(dir / "out.jsonl") == "{\"id\":\"1\",\"text\":\"a\",\"n\":1}\n{\"id\":\"own\",\"text\":\"b\"}\n");
  run_text(graph("path = \"out.jsonl\"\nfields = [\"n\", \"text\"]\nid_key = \"\""), dir);
  CHECK(read_file(dir / "out.jsonl") == "{\"n\":1,\"text\":\"a\"}\n{\"n\":null,\"text\":\"b\"}\n");
}

TEST_CASE("csv sink: header from columns (or the first item), quoting where needed") {
  TempDir dir;
  dir.write("in.jsonl", "{\"text\": \"a, b\", \"n\": 1}\n{\"text\": \"say \\\"hi\\\"\", \"n\": [1,2]}\n");
  run_text(graph("type = \"csv\"\npath = \"out.csv\""), dir);
  CHECK(read_file(dir / "out.csv") == "id,text,n\n1,\"a, b\",1\n2,\"say \"\"hi\"\"\",\"[1,2]\"\n");
  run_text(graph("type = \"csv\"\npath = \"out.csv\"\ncolumns = [\"n\", \"id\"]\ndelimiter = \";\""), dir);
  CHECK(read_file(dir / "out.csv") == "n;id\n1;1\n[1,2];2\n");
}

TEST_CASE("results reach the file while the job runs (flush_every)") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1000));
  auto run = run_text(graph("path = \"out.jsonl\"\nflush_every = 10"), dir);
  CHECK(run.report.succeeded == 1000);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 1000);
  auto bad = compile_text(graph("path = \"out.jsonl\"\nflush_every = 0\nflush_interval_ms = 0"), dir);
  CHECK(bad.diagnostics.error_count() == 2);
}

TEST_CASE("csv sink: csv_safe makes cells a spreadsheet would run as formulas plain text") {
  TempDir dir;
  dir.write(
      "in.jsonl",
      R"j({"id": "1", "a": "=HYPERLINK(\"http://x\")", "b": "+1", "c": "-2", "d": "@SUM(A1)", "e": "a=b", "f": "\tx"})j"
      "\n");
  run_text(graph("type = \"csv\"\npath = \"out.csv\"\ncsv_safe = true"), dir);
  CHECK(read_file(dir / "out.csv") ==
        "id,a,b,c,d,e,f\n1,\"'=HYPERLINK(\"\"http://x\"\")\",'+1,'-2,'@SUM(A1),a=b,'\tx\n");
  run_text(graph("type = \"csv\"\npath = \"plain.csv\""), dir);  // off by default
  CHECK(read_file(dir / "plain.csv") == "id,a,b,c,d,e,f\n1,\"=HYPERLINK(\"\"http://x\"\")\",+1,-2,@SUM(A1),a=b,\tx\n");
}

TEST_CASE("openai_batch lines: answered, without a response, failed with and without an HTTP status") {
  Item item;
  item.id = "7";
  item.fields["custom_id"] = "req \"7\"";  // escaped as JSON
  item.fields["response"] = boost::json::parse(R"({"status_code":200,"request_id":"r-1","body":{"x":[1,"\u00e9"]}})");
  const std::string id = "batch_req_" + hex16(stable_hash("req \"7\"", 0xba7c4));
  std::string out;
  append_openai_batch_line(item, "response", out);
  CHECK(
      out ==
      R"({"id":")" + id +
          R"(","custom_id":"req \"7\"","response":{"status_code":200,"request_id":"r-1","body":{"x":[1,"é"]}},"error":null})");

  out.clear();
  append_openai_batch_line(item, "missing", out);
  CHECK(
      out ==
      R"({"id":")" + id +
          R"x(","custom_id":"req \"7\"","response":null,"error":{"code":"no_response","message":"the item reached the sink without a response (is it after a passthrough call?)"}})x");

  Item failed;
  failed.id = "8";  // no custom_id: the id is used
  failed.failure = make_failure(ErrorClass::rate_limit, "slow down");
  failed.failure->http_status = 429;
  failed.failure->request_id = "req-9";
  const std::string failed_id = "batch_req_" + hex16(stable_hash("8", 0xba7c4));
  out.clear();
  append_openai_batch_error_line(failed, out);
  CHECK(
      out ==
      R"({"id":")" + failed_id +
          R"(","custom_id":"8","response":{"status_code":429,"request_id":"req-9","body":{"error":{"message":"slow down","type":"rate_limit","code":null}}},"error":null})");

  failed.failure->http_status = 0;
  out.clear();
  append_openai_batch_error_line(failed, out);
  CHECK(out == R"({"id":")" + failed_id +
                   R"(","custom_id":"8","response":null,"error":{"code":"rate_limit","message":"slow down"}})");
}
