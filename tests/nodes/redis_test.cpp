// The Redis stream source and the Redis sinks, against a real redis-server on loopback.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/support/fixtures.h"
#include "tests/support/queue_graph.h"
#include "tests/support/redis.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

void add_entries(RedisProcess& redis, int n, const std::string& stream = "s") {
  for (int i = 1; i <= n; ++i)
    redis.command({"XADD", stream, "*", "id", fmt::format("i{}", i), "text", fmt::format("item {}", i)});
}

/// redis_stream source "in" (until_empty) → sink `sink_toml`; its invalid port → bad.jsonl.
std::string stream_graph(const std::string& url, const std::string& source_keys, const std::string& sink_toml) {
  return queue_graph(fmt::format(R"(type = "redis_stream"
url = "{}"
stream = "s"
{})",
                                 url, source_keys),
                     sink_toml);
}

long long pending(RedisProcess& redis, const std::string& group = "flowbatch") {
  return redis.command({"XPENDING", "s", group}).at(0).integer();
}

}  // namespace

TEST_CASE("redis_stream: every entry becomes an item with its fields and entry id, and is acknowledged") {
  REQUIRE_REDIS_OR_SKIP();
  TempDir dir;
  RedisProcess redis(dir);
  add_entries(redis, 25);
  const auto run = run_text(stream_graph(redis.url(), "id_field = \"id\"", "path = \"out.jsonl\""), dir);
  REQUIRE_MESSAGE(run.report.exit_code == 0, run.console);
  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(out.size() == 25);
  for (const auto& [id, n] : count_ids(out)) CHECK_MESSAGE(n == 1, id);
  CHECK(out.front().at("text").as_string().starts_with("item "));
  CHECK(out.front().at("entry_id").as_string().find('-') != boost::json::string::npos);
  CHECK(pending(redis) == 0);  // all acknowledged, after the sink committed
}

TEST_CASE("redis_stream: json_field unpacks a JSON object: an entry that is not one goes to the dead letter") {
  REQUIRE_REDIS_OR_SKIP();
  TempDir dir;
  RedisProcess redis(dir);
  redis.command({"XADD", "s", "*", "payload", R"({"id":"a","text":"x"})"});
  redis.command({"XADD", "s", "*", "payload", "not json"});
  const auto run =
      run_text(stream_graph(redis.url(), "id_field = \"id\"\njson_field = \"payload\"", "path = \"out.jsonl\""), dir);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 1);
  CHECK(out[0].at("text").as_string() == "x");
  const auto bad = read_jsonl(dir / "bad.jsonl");
  REQUIRE(bad.size() == 1);
  CHECK(boost::json::serialize(bad[0]).find("is not a JSON object") != std::string::npos);
  CHECK(pending(redis) == 0);  // the dead-lettered entry is acknowledged too
}

TEST_CASE("redis_stream: entries a dead consumer left are taken over: too many deliveries go to the dead letter") {
  REQUIRE_REDIS_OR_SKIP();
  TempDir dir;
  RedisProcess redis(dir);
  add_entries(redis, 6);
  redis.command({"XGROUP", "CREATE", "s", "flowbatch", "0"});
  // A consumer that read four entries and died: delivered once, pending on it.
  redis.command({"XREADGROUP", "GROUP", "flowbatch", "dead", "COUNT", "4", "STREAMS", "s", ">"});
  const auto run = run_text(
      stream_graph(redis.url(), "id_field = \"id\"\nclaim_idle_ms = 20\nmax_deliveries = 1", "path = \"out.jsonl\""),
      dir);
  REQUIRE_MESSAGE(run.report.exit_code == 3, run.console);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 2);  // the two nobody had read
  const auto bad = read_jsonl(dir / "bad.jsonl");
  REQUIRE(bad.size() == 4);
  CHECK(boost::json::serialize(bad[0]).find("was delivered 2 times (max_deliveries = 1)") != std::string::npos);
  CHECK(pending(redis) == 0);
}

TEST_CASE("redis_hash: results keyed by id, so a second delivery overwrites instead of duplicating") {
  REQUIRE_REDIS_OR_SKIP();
  TempDir dir;
  RedisProcess redis(dir);
  dir.write("in.jsonl", make_jsonl(30));
  const std::string graph = fmt::format(R"([sources.in]
path = "in.jsonl"
id_field = "id"
[sinks.out]
inputs = ["in"]
type = "redis_hash"
url = "{}"
key = "results"
)",
                                        redis.url());
  REQUIRE(run_text(graph, dir).report.exit_code == 0);
  REQUIRE(run_text(graph, dir).report.exit_code == 0);  // --fresh: everything again
  CHECK(redis.command({"HLEN", "results"}).integer() == 30);
  const auto i7 = boost::json::parse(redis.command({"HGET", "results", "i7"}).text()).as_object();
  CHECK(i7.at("text").as_string() == "item 7");
}

TEST_CASE("redis_stream sink: one entry per result, trimmed to about maxlen") {
  REQUIRE_REDIS_OR_SKIP();
  TempDir dir;
  RedisProcess redis(dir);
  dir.write("in.jsonl", make_jsonl(300));  // MAXLEN ~ trims whole nodes of 100 entries
  constexpr const char* sink = R"([sinks.{}]
inputs = ["in"]
type = "redis_stream"
url = "{}"
stream = "{}"
{}
)";
  const std::string graph = "[sources.in]\npath = \"in.jsonl\"\nid_field = \"id\"\n" +
                            fmt::format(fmt::runtime(sink), "all", redis.url(), "all", "") +
                            fmt::format(fmt::runtime(sink), "short", redis.url(), "short", "maxlen = 5");
  REQUIRE(run_text(graph, dir).report.exit_code == 0);
  CHECK(redis.command({"XLEN", "all"}).integer() == 300);
  CHECK(redis.command({"XLEN", "short"}).integer() < 300);
  const RedisReply first = redis.command({"XRANGE", "all", "-", "+", "COUNT", "1"}).at(0).at(1);
  CHECK(first.at(0).text() == "id");  // items reach a sink in no particular order
  CHECK(first.at(2).text() == "item");
  const auto item = boost::json::parse(first.at(3).text()).as_object();
  CHECK(item.at("id").as_string() == first.at(1).text());
}

TEST_CASE("redis: a password in the URL never appears in errors, logs or the graph dump") {
  REQUIRE_REDIS_OR_SKIP();
  TempDir dir;
  RedisProcess redis(dir, {"--requirepass", "s3cret-pa55word"});
  ScopedEnv wrong("FB_TEST_REDIS_URL", fmt::format("redis://:wrong-pa55word@127.0.0.1:{}", redis.port()));
  dir.write("in.jsonl", make_jsonl(3));
  const std::string graph = R"([sources.in]
path = "in.jsonl"
id_field = "id"
[sinks.out]
inputs = ["in"]
type = "redis_hash"
url = "${FB_TEST_REDIS_URL}"
key = "results"
)";
  const auto run = run_text(graph, dir);
  CHECK(run.report.exit_code != 0);
  const std::string report = boost::json::serialize(run.report.json);
  CHECK_MESSAGE(report.find("WRONGPASS") != std::string::npos, report);
  CHECK(run.console.find("wrong-pa55word") == std::string::npos);
  CHECK(report.find("wrong-pa55word") == std::string::npos);
  const ProcessResult dump = run_flowbatch({"graph", (dir / "graph.toml").string()});
  CHECK(dump.out.find("127.0.0.1") != std::string::npos);
  CHECK(dump.out.find("wrong-pa55word") == std::string::npos);

  ScopedEnv right("FB_TEST_REDIS_URL", fmt::format("redis://:s3cret-pa55word@127.0.0.1:{}", redis.port()));
  CHECK(run_text(graph, dir).report.exit_code == 0);
  CHECK(redis.command({"HLEN", "results"}).integer() == 3);
}

TEST_CASE("redis: a bad URL is a configuration error naming the key, without quoting the URL") {
  TempDir dir;
  const auto compiled = compile_text(R"([sources.in]
type = "redis_stream"
url = "http://user:hunter2@host"
stream = "s"
max_deliveries = 0
[sinks.out]
inputs = ["in"]
path = "out.jsonl"
)",
                                     dir);
  CHECK(!compiled.plan);
  const std::string errors = compiled.diagnostics.str();
  CHECK_MESSAGE(errors.find("graph.toml:3:7") != std::string::npos, errors);
  CHECK(errors.find("must be a redis://") != std::string::npos);
  CHECK(errors.find("max_deliveries") != std::string::npos);
  CHECK(errors.find("hunter2") == std::string::npos);
}
