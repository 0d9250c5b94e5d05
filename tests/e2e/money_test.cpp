// Money: prices, what a run cost (its summary JSON, per-item usage), the providers' prompt caches
// and the hard cost cap, through the built program against flowbatch-mock on loopback.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <boost/json.hpp>

#include <cmath>
#include <regex>
#include <set>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

/// $1,000 / $2,000 per million tokens: a token costs a tenth of a cent in, a fifth out, so a few
/// hundred requests reach dollars.
const char* kDearPrices = R"(prices = { "m" = { input = 1000, output = 2000 } })";

boost::json::object summary_of(const TempDir& dir) {
  return boost::json::parse(read_file(dir / ".flowbatch" / "graph.summary.json")).as_object();
}

double number(const boost::json::value& v) { return v.to_number<double>(); }

/// `n` JSONL lines made by `line(i)`.
template <class F>
std::string lines(int n, F line) {
  std::string text;
  for (int i = 0; i < n; ++i) text += line(i) + "\n";
  return text;
}

/// `n` short records {"id": "t<i>", "text": "x<i>"}.
std::string tickets(int n) {
  return lines(n, [](int i) { return fmt::format(R"({{"id":"t{}","text":"x{}"}})", i, i); });
}

std::int64_t tokens_of(std::size_t chars) { return static_cast<std::int64_t>((chars + 3) / 4); }

}  // namespace

TEST_CASE("the cost cap stops a run before it passes the cap, and a higher cap finishes it, each item once") {
  // Answers of very different lengths: what a request costs is not known before it is answered.
  MockServer server({"--replies", "ok," + std::string(40, 'a') + "," + std::string(400, 'b')});
  TempDir dir;
  dir.write("in.jsonl",
            lines(200, [](int i) { return fmt::format(R"({{"id":"t{}","text":"ticket number {}"}})", i, i); }));
  ChatGraph k;
  k.base_url = server.base_url();
  k.provider += std::string("\n") + kDearPrices;
  k.call = "max_tokens = 150";
  k.sink = "include_usage = true";
  dir.write("graph.toml", k.toml());

  const auto first = run_flowbatch({"run", "graph.toml", "--max-cost", "8"}, dir.path());
  CHECK(first.exit_code == 75);  // resumable
  CHECK(first.err.find("the cost cap") != std::string::npos);
  CHECK(first.err.find("raise the cap") != std::string::npos);
  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(out.size() > 10);
  CHECK(out.size() < 200);
  const bool dead_lettered = std::filesystem::exists(dir / "dead.jsonl") && !read_jsonl(dir / "dead.jsonl").empty();
  CHECK_FALSE(dead_lettered);  // items not sent are left for the next run, not dead-lettered

  // What the server answered, priced independently of flowbatch's books: never over the cap.
  double paid = 0;
  for (const auto& r : out) {
    const auto input = tokens_of(std::string("Answer briefly.").size() + r.at("text").as_string().size());
    const auto output = tokens_of(r.at("output").as_string().size());
    paid += static_cast<double>(input) * 1e-3 + static_cast<double>(output) * 2e-3;
    CHECK(r.at("usage").at("input_tokens").to_number<std::int64_t>() == input);
    CHECK(number(r.at("cost_usd")) ==
          doctest::Approx(static_cast<double>(input) * 1e-3 + static_cast<double>(output) * 2e-3));
  }
  CHECK(paid <= 8.0);
  CHECK(server.stats().at("requests").to_number<std::int64_t>() == static_cast<std::int64_t>(out.size()));
  const auto summary = summary_of(dir);
  CHECK(number(summary.at("cost_usd")) == doctest::Approx(paid));
  CHECK(number(summary.at("cost_total_usd")) <= 8.0);
  CHECK(summary.at("status").as_string() == "stopped");
  CHECK(summary.at("exit_code").as_int64() == 75);

  // The cap counts what the earlier run spent: a resumed run with the same cap sends nothing new
  // that would pass it, and a higher one finishes every item once.
  const auto second = run_flowbatch({"run", "graph.toml", "--max-cost", "1000"}, dir.path());
  CHECK(second.exit_code == 0);
  const auto all = read_jsonl(dir / "out.jsonl");
  CHECK(all.size() == 200);
  CHECK(count_ids(all).size() == 200);
  CHECK(server.stats().at("requests").to_number<std::int64_t>() == 200);  // nothing paid twice
  CHECK(number(summary_of(dir).at("cost_total_usd")) == doctest::Approx(paid + number(summary_of(dir).at("cost_usd"))));
}

TEST_CASE("every field of the run summary JSON is documented in docs/summary.md, and every documented one is there") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", tickets(5));
  ChatGraph k;
  k.base_url = server.base_url();
  k.provider += R"(
prices = { "m" = { input = 0.15, output = 0.6 } })";
  dir.write("graph.toml", k.toml());
  const auto run = run_flowbatch({"run", "graph.toml", "--summary-json", "s.json"}, dir.path());
  REQUIRE(run.exit_code == 0);
  const auto summary = boost::json::parse(read_file(dir / "s.json")).as_object();
  CHECK(summary == summary_of(dir));  // the same summary in both places

  const std::string doc = read_file(std::filesystem::path(FLOWBATCH_SOURCE_DIR) / "docs" / "summary.md");
  std::set<std::string> documented;
  const std::regex row(R"(\n\| `([A-Za-z_.]+)` \|)");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), row); it != std::sregex_iterator(); ++it)
    documented.insert((*it)[1]);
  std::set<std::string> present;
  for (const auto& [key, value] : summary) present.insert(std::string(key));
  for (const auto& [key, value] : summary.at("cost_saved").as_object())
    present.insert("cost_saved." + std::string(key));
  for (const auto& [key, value] : summary.at("providers").at("p").as_object())
    present.insert("providers.NAME." + std::string(key));
  for (const auto& field : present) CHECK_MESSAGE(documented.count(field), field, " is not documented");
  for (const auto& field : documented) CHECK_MESSAGE(present.count(field), field, " is documented but not written");

  CHECK(summary.at("items").to_number<std::uint64_t>() == 5);
  CHECK(summary.at("ok").to_number<std::uint64_t>() == 5);
  CHECK(summary.at("requests").to_number<std::uint64_t>() == 5);
  CHECK(summary.at("providers").at("p").at("requests").to_number<std::uint64_t>() == 5);
  CHECK(number(summary.at("cost_usd")) > 0);
  CHECK(number(summary.at("cost_usd")) == doctest::Approx(number(summary.at("providers").at("p").at("cost_usd"))));
  CHECK(run.err.find("cost $") != std::string::npos);  // the summary says it too
}

TEST_CASE("a model with no known price: validate warns, the cost is unknown (never 0), and a cap refuses it") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", tickets(3));
  ChatGraph k;
  k.base_url = server.base_url();
  dir.write("graph.toml", k.toml());
  const auto validated = run_flowbatch({"validate", "graph.toml"}, dir.path());
  CHECK(validated.exit_code == 0);
  CHECK(validated.err.find("model \"m\" has no known price on provider \"p\"") != std::string::npos);
  CHECK(validated.err.find("[providers.p.prices]") != std::string::npos);

  const auto run = run_flowbatch({"run", "graph.toml"}, dir.path());
  CHECK(run.exit_code == 0);
  const auto summary = summary_of(dir);
  CHECK(summary.at("cost_usd").is_null());
  CHECK(summary.at("unpriced_requests").to_number<std::uint64_t>() == 3);
  CHECK(run.err.find("cost unknown for 3 requests") != std::string::npos);

  const auto capped = run_flowbatch({"validate", "graph.toml", "--set", "pipeline.max_cost_usd=5"}, dir.path());
  CHECK(capped.exit_code == 78);
  CHECK(capped.err.find("max_cost_usd cannot bound what it cannot price") != std::string::npos);
}

TEST_CASE("a shipped price: gpt-4o-mini is priced without any price in the graph") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", tickets(4));
  ChatGraph k;
  k.base_url = server.base_url();
  std::string text = k.toml();
  text.replace(text.find(R"(model = "m")"), 11, R"(model = "gpt-4o-mini-2024-07-18")");
  dir.write("graph.toml", text);
  CHECK(run_flowbatch({"validate", "graph.toml", "--deny-warnings"}, dir.path()).exit_code == 0);
  REQUIRE(run_flowbatch({"run", "graph.toml"}, dir.path()).exit_code == 0);
  const auto s = summary_of(dir);
  const double expected = number(s.at("tokens_in")) * 0.15e-6 + number(s.at("tokens_out")) * 0.60e-6;
  CHECK(number(s.at("cost_usd")) == doctest::Approx(expected));
}

TEST_CASE("Anthropic's prompt cache: a long shared system prompt is marked, written once and read after") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", tickets(20));
  ChatGraph k;
  k.type = "anthropic";
  k.base_url = server.base_url();
  k.system = std::string(6000, 's');  // about 1,500 tokens: long enough to be cached
  k.provider =
      "max_concurrency = 1\nprices = { \"m\" = { input = 3, cache_write = 3.75, cached_input = 0.3, output = 15 } }";
  k.call = "max_tokens = 50";
  dir.write("graph.toml", k.toml());
  REQUIRE(run_flowbatch({"run", "graph.toml"}, dir.path()).exit_code == 0);
  const auto cached = summary_of(dir);
  CHECK(cached.at("tokens_in_cached").to_number<std::uint64_t>() == 19 * 1500);  // every request but the first read it
  CHECK(number(cached.at("cost_saved").at("prompt_cache_usd")) > 0);

  // Turned off: nothing is marked, nothing read from the cache, and it costs more.
  ChatGraph off = k;
  off.provider += "\nprompt_cache = false";
  dir.write("graph.toml", off.toml());
  REQUIRE(run_flowbatch({"run", "graph.toml", "--fresh"}, dir.path()).exit_code == 0);
  const auto plain = summary_of(dir);
  CHECK(plain.at("tokens_in_cached").to_number<std::uint64_t>() == 0);
  CHECK(number(plain.at("cost_usd")) > number(cached.at("cost_usd")) * 3);
}

TEST_CASE("OpenAI's automatic prompt cache: a shared prefix of 1,024 tokens or more is counted at its price") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", tickets(10));
  ChatGraph k;
  k.base_url = server.base_url();
  k.system = std::string(6000, 's');
  k.provider = "max_concurrency = 1\nprices = { \"m\" = { input = 2, cached_input = 0.5, output = 8 } }";
  k.call = "prompt_cache_key = \"tickets\"";
  dir.write("graph.toml", k.toml());
  REQUIRE(run_flowbatch({"run", "graph.toml"}, dir.path()).exit_code == 0);
  const auto s = summary_of(dir);
  CHECK(s.at("tokens_in_cached").to_number<std::uint64_t>() == 9 * (1500 / 128 * 128));
  // Saved: the cached tokens at the input price less the cached price.
  CHECK(number(s.at("cost_saved").at("prompt_cache_usd")) == doctest::Approx(9 * (1500 / 128 * 128) * 1.5e-6));
}

TEST_CASE("per-item usage and cost add up to the run's, for packed requests too") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl",
            lines(60, [](int i) { return fmt::format(R"({{"id":"t{}","text":"ticket {}"}})", i, i * 7919); }));
  ChatGraph k;
  k.base_url = server.base_url();
  k.provider += std::string("\n") + kDearPrices;
  k.call = "pack_max_items = 8";
  k.sink = "include_usage = true";
  dir.write("graph.toml", k.toml());
  REQUIRE(run_flowbatch({"run", "graph.toml"}, dir.path()).exit_code == 0);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 60);
  double cost = 0;
  std::int64_t in = 0, out_tokens = 0;
  for (const auto& r : out) {
    cost += number(r.at("cost_usd"));
    in += r.at("usage").at("input_tokens").to_number<std::int64_t>();
    out_tokens += r.at("usage").at("output_tokens").to_number<std::int64_t>();
  }
  const auto s = summary_of(dir);
  CHECK(in == s.at("tokens_in").to_number<std::int64_t>());
  CHECK(out_tokens == s.at("tokens_out").to_number<std::int64_t>());
  CHECK(cost == doctest::Approx(number(s.at("cost_usd"))).epsilon(1e-9));
  CHECK(s.at("requests").to_number<std::uint64_t>() < 60);  // packed
}

TEST_CASE(
    "estimate sends a sample for real, writes none of the graph's outputs, and the run does not pay for it again") {
  MockServer server({"--replies", "ok," + std::string(40, 'a') + "," + std::string(120, 'b')});
  TempDir dir;
  dir.write("in.jsonl",
            lines(400, [](int i) { return fmt::format(R"({{"id":"t{}","text":"ticket {}"}})", i, i * 31); }));
  ChatGraph k;
  k.base_url = server.base_url();
  k.provider += "\nprices = { \"m\" = { input = 2, output = 8 } }";
  k.call = "cache = true\nmax_tokens = 100";
  dir.write("graph.toml", k.toml());

  const auto estimated = run_flowbatch({"estimate", "graph.toml", "--sample", "40", "--json"}, dir.path());
  REQUIRE(estimated.exit_code == 0);
  const auto e = boost::json::parse(estimated.out).as_object();
  CHECK(e.at("records").to_number<int>() == 400);
  const auto sampled = e.at("sample_records").to_number<std::int64_t>();
  CHECK(sampled > 15);
  CHECK(sampled < 70);
  CHECK(server.stats().at("requests").to_number<std::int64_t>() == sampled);
  CHECK(e.at("sample_reused_by_run").as_bool());
  CHECK(number(e.at("sample_cost_usd")) > 0);
  CHECK_FALSE(std::filesystem::exists(dir / "out.jsonl"));  // the graph's outputs are not touched
  CHECK_FALSE(std::filesystem::exists(dir / ".flowbatch" / "graph.db"));

  REQUIRE(run_flowbatch({"run", "graph.toml"}, dir.path()).exit_code == 0);
  CHECK(server.stats().at("requests").to_number<std::int64_t>() == 400);  // the sample was not paid twice
  const double actual =
      number(summary_of(dir).at("cost_usd")) + number(summary_of(dir).at("cost_saved").at("response_cache_usd"));
  CHECK(number(e.at("cost_usd")) == doctest::Approx(actual).epsilon(0.25));
  CHECK(number(e.at("cost_usd_low")) <= number(e.at("cost_usd")));
  CHECK(number(e.at("cost_usd_high")) >= number(e.at("cost_usd")));

  const auto text = run_flowbatch({"estimate", "graph.toml", "--no-calls"}, dir.path());
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("without calling") != std::string::npos);
  CHECK(server.stats().at("requests").to_number<std::int64_t>() == 400);  // --no-calls sends nothing
}

TEST_CASE("estimate says so when the run will pay for the sample again (no call caches)") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", lines(100, [](int i) { return fmt::format(R"({{"id":"t{}","text":"ticket {}"}})", i, i); }));
  ChatGraph k;
  k.base_url = server.base_url();
  k.provider += "\nprices = { \"m\" = { input = 2, output = 8 } }";
  dir.write("graph.toml", k.toml());
  const auto text = run_flowbatch({"estimate", "graph.toml", "--sample", "20"}, dir.path());
  REQUIRE_MESSAGE(text.exit_code == 0, text.err);
  CHECK(text.out.find("no call has cache = true: the run pays for the sample's answers again ($") != std::string::npos);
  CHECK(text.out.find("will not pay for them again") == std::string::npos);
  const auto json = run_flowbatch({"estimate", "graph.toml", "--sample", "20", "--json"}, dir.path());
  REQUIRE(json.exit_code == 0);
  CHECK_FALSE(boost::json::parse(json.out).at("sample_reused_by_run").as_bool());
}
