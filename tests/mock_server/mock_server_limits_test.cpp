// flowbatch-mock's simulated conditions through real HTTP: rate limits and their headers, faults,
// latency, concurrency and the /stats counters.
#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <thread>

#include "tests/mock_server/http_client.h"

namespace flowbatch::test {
namespace {

namespace json = boost::json;

const std::regex kGoDuration(R"(^(\d+h)?(\d+m)?\d+(\.\d+)?(ms|s)$)");
const std::regex kRfc3339(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");

std::int64_t stat(const json::object& stats, std::string_view key) { return stats.at(key).as_int64(); }
std::int64_t stat(const json::object& stats, std::string_view group, std::string_view key) {
  const auto* value = stats.at(group).as_object().if_contains(key);
  return value ? value->as_int64() : 0;
}

}  // namespace

TEST_CASE("mock: --rpm answers 429 with retry hints and x-ratelimit headers") {
  // 60 a minute with a 1 s burst: a bucket of one request, refilled in a second.
  MockServer mock({"--rpm", "60"});
  const HttpResponse first = perform(chat_call(mock, "hi"));
  REQUIRE(first.status == 200);
  CHECK(first.header("x-ratelimit-limit-requests") == "60");
  CHECK(first.header("x-ratelimit-remaining-requests") == "0");
  CHECK(std::regex_match(first.header("x-ratelimit-reset-requests"), kGoDuration));
  CHECK_FALSE(first.has_header("x-ratelimit-limit-tokens"));  // --tpm is not set

  const HttpResponse second = perform(chat_call(mock, "hi"));
  REQUIRE(second.status == 429);
  CHECK(second.header("retry-after") == "1");
  const int retry_ms = std::stoi(second.header("retry-after-ms"));
  CHECK((retry_ms >= 1 && retry_ms <= 1000));
  CHECK(std::regex_match(second.header("x-ratelimit-reset-requests"), kGoDuration));
  const auto error = second.json().at("error").as_object();
  CHECK(error.at("code").as_string() == "rate_limit_exceeded");
  CHECK(error.at("type").as_string() == "requests");
  CHECK(error.at("param").is_null());
  CHECK(std::string(error.at("message").as_string()).rfind("Rate limit reached for requests", 0) == 0);
  CHECK(stat(mock.stats(), "rate_limited") == 1);
}

TEST_CASE("mock: --rpm on the Anthropic route uses anthropic-ratelimit headers and RFC 3339 resets") {
  MockServer mock({"--rpm", "60", "--tpm", "100000"});
  const HttpResponse first = perform(messages_call(mock, "hi"));
  REQUIRE(first.status == 200);
  CHECK(first.header("anthropic-ratelimit-requests-limit") == "60");
  CHECK(first.header("anthropic-ratelimit-requests-remaining") == "0");
  CHECK(std::regex_match(first.header("anthropic-ratelimit-requests-reset"), kRfc3339));
  CHECK(first.header("anthropic-ratelimit-tokens-limit") == "100000");
  CHECK(std::regex_match(first.header("anthropic-ratelimit-tokens-reset"), kRfc3339));
  CHECK_FALSE(first.has_header("x-ratelimit-limit-requests"));

  const HttpResponse second = perform(messages_call(mock, "hi"));
  REQUIRE(second.status == 429);
  CHECK(second.header("retry-after") == "1");
  CHECK(second.has_header("retry-after-ms"));
  const auto body = second.json();
  CHECK(body.at("type").as_string() == "error");
  CHECK(body.at("error").at("type").as_string() == "rate_limit_error");
}

TEST_CASE("mock: --tpm counts prompt characters / 4 plus max_tokens") {
  // 600 tokens a minute, 1 s burst: a bucket of 10 tokens.
  MockServer mock({"--tpm", "600"});
  // "hi" is 1 token; with max_tokens 6 the request costs 7 of the 10.
  const HttpResponse first = perform(chat_call(mock, "hi", {{"max_tokens", 6}}));
  REQUIRE(first.status == 200);
  CHECK(first.header("x-ratelimit-limit-tokens") == "600");
  CHECK(first.header("x-ratelimit-remaining-tokens") == "3");
  CHECK(std::regex_match(first.header("x-ratelimit-reset-tokens"), kGoDuration));
  const HttpResponse second = perform(chat_call(mock, "hi", {{"max_tokens", 6}}));
  REQUIRE(second.status == 429);
  CHECK(second.json().at("error").at("type").as_string() == "tokens");
  CHECK(second.has_header("retry-after-ms"));
}

TEST_CASE("mock: rate-limit buckets refill continuously") {
  // 600 a minute with a 0.1 s burst: one request, then one more every 100 ms.
  MockServer mock({"--rpm", "600", "--burst-seconds", "0.1"});
  CHECK(perform(chat_call(mock, "hi")).status == 200);
  CHECK(perform(chat_call(mock, "hi")).status == 429);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  CHECK(perform(chat_call(mock, "hi")).status == 200);
}

TEST_CASE("mock: --rolling-window-seconds counts the last S seconds, not a bucket nor a fixed window") {
  // 120 a minute over a rolling 2 s: 4 in any 2 s, and a fresh window admits them all at once.
  MockServer mock({"--rpm", "120", "--rolling-window-seconds", "2"});
  for (const char* remaining : {"3", "2"}) {
    const HttpResponse r = perform(chat_call(mock, "hi"));
    REQUIRE(r.status == 200);
    CHECK(r.header("x-ratelimit-limit-requests") == "120");
    CHECK(r.header("x-ratelimit-remaining-requests") == remaining);
    CHECK(std::regex_match(r.header("x-ratelimit-reset-requests"), kGoDuration));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  CHECK(perform(chat_call(mock, "hi")).status == 200);
  CHECK(perform(chat_call(mock, "hi")).header("x-ratelimit-remaining-requests") == "0");
  const HttpResponse refused = perform(chat_call(mock, "hi"));
  REQUIRE(refused.status == 429);
  // The first two leave the window 2 s after they came, about 1 s from now.
  const int retry_ms = std::stoi(refused.header("retry-after-ms"));
  CHECK(retry_ms > 500);
  CHECK(retry_ms <= 1000);
  std::this_thread::sleep_for(std::chrono::milliseconds(retry_ms + 100));
  // Only the first two have left: a fixed window would have started afresh with four.
  CHECK(perform(chat_call(mock, "hi")).status == 200);
  CHECK(perform(chat_call(mock, "hi")).status == 200);
  CHECK(perform(chat_call(mock, "hi")).status == 429);
  CHECK(stat(mock.stats(), "rate_limited") == 2);
}

TEST_CASE("mock: --tpm over a rolling window counts tokens, and lets an oversized request through an empty window") {
  // 600 tokens a minute over a rolling 1 s: 10 tokens in any second.
  MockServer mock({"--tpm", "600", "--rolling-window-seconds", "1"});
  const HttpResponse big = perform(chat_call(mock, "hi", {{"max_tokens", 20}}));  // 21 tokens: alone
  REQUIRE(big.status == 200);
  CHECK(big.header("x-ratelimit-remaining-tokens") == "0");
  const HttpResponse small = perform(chat_call(mock, "hi", {{"max_tokens", 1}}));
  REQUIRE(small.status == 429);
  CHECK(small.json().at("error").at("type").as_string() == "tokens");
  std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(small.header("retry-after-ms")) + 50));
  const HttpResponse after = perform(chat_call(mock, "hi", {{"max_tokens", 6}}));  // 7 of 10
  REQUIRE(after.status == 200);
  CHECK(after.header("x-ratelimit-remaining-tokens") == "3");
}

TEST_CASE("mock: --error-rate 1 answers 5xx in each API's error shape") {
  MockServer mock({"--error-rate", "1"});
  std::set<long> openai_statuses;
  for (int i = 0; i < 12; ++i) {
    const HttpResponse r = perform(chat_call(mock, "hi"));
    openai_statuses.insert(r.status);
    CHECK(r.json().at("error").at("type").as_string() == "server_error");
  }
  for (long status : openai_statuses) CHECK(std::set<long>{500, 502, 503}.count(status) == 1);

  std::set<long> anthropic_statuses;
  for (int i = 0; i < 24; ++i) {
    const HttpResponse r = perform(messages_call(mock, "hi"));
    anthropic_statuses.insert(r.status);
    CHECK(r.json().at("type").as_string() == "error");
    CHECK(r.json().at("error").at("type").as_string() == (r.status == 529 ? "overloaded_error" : "api_error"));
  }
  CHECK(anthropic_statuses.count(529) == 1);
  CHECK(anthropic_statuses.size() > 1);
  CHECK(stat(mock.stats(), "faults", "error") == 36);
}

TEST_CASE("mock: --reset-rate 1 closes the connection without an answer") {
  MockServer mock({"--reset-rate", "1"});
  const HttpResponse r = perform(chat_call(mock, "hi"));
  CHECK(r.curl_code != CURLE_OK);
  CHECK(r.status == 0);
  CHECK(r.body.empty());
  const auto stats = mock.stats();
  CHECK(stat(stats, "faults", "reset") == 1);
  CHECK(stat(stats, "in_flight") == 0);
}

TEST_CASE("mock: --malformed-rate 1 answers 200 with a body that is not JSON") {
  MockServer mock({"--malformed-rate", "1"});
  const HttpResponse chat = perform(chat_call(mock, "hi"));
  CHECK(chat.status == 200);
  CHECK_FALSE(chat.body.empty());
  CHECK_FALSE(chat.body_parses());
  const HttpResponse messages = perform(messages_call(mock, "hi"));
  CHECK(messages.status == 200);
  CHECK_FALSE(messages.body_parses());
  CHECK(stat(mock.stats(), "faults", "malformed") == 2);
}

TEST_CASE("mock: --hang-rate 1 never answers") {
  MockServer mock({"--hang-rate", "1"});
  HttpCall call = chat_call(mock, "hi");
  call.timeout_ms = 300;
  const HttpResponse r = perform(call);
  CHECK(r.curl_code == CURLE_OPERATION_TIMEDOUT);
  CHECK(r.status == 0);
  CHECK(r.elapsed >= std::chrono::milliseconds(250));
  CHECK(stat(mock.stats(), "faults", "hang") == 1);
  // The client went away, so the server let go of the request.
  for (int i = 0; i < 100 && stat(mock.stats(), "in_flight") != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(stat(mock.stats(), "in_flight") == 0);
}

TEST_CASE("mock: --quota-rate 1 answers insufficient quota") {
  MockServer mock({"--quota-rate", "1"});
  const HttpResponse openai = perform(chat_call(mock, "hi"));
  CHECK(openai.status == 429);
  CHECK_FALSE(openai.has_header("retry-after"));
  const auto error = openai.json().at("error").as_object();
  CHECK(error.at("code").as_string() == "insufficient_quota");
  CHECK(error.at("type").as_string() == "insufficient_quota");
  CHECK(error.at("message").as_string() ==
        "You exceeded your current quota, please check your plan and billing details.");

  const HttpResponse anthropic = perform(messages_call(mock, "hi"));
  CHECK(anthropic.status == 400);
  CHECK(anthropic.json().at("error").at("type").as_string() == "invalid_request_error");
  CHECK(anthropic.json().at("error").at("message").as_string() ==
        "Your credit balance is too low to access the Anthropic API.");
  CHECK(stat(mock.stats(), "faults", "quota") == 2);
}

TEST_CASE("mock: faults are decided before rate limiting and spend no budget") {
  MockServer mock({"--quota-rate", "1", "--rpm", "60"});
  for (int i = 0; i < 3; ++i) CHECK(perform(chat_call(mock, "hi")).status == 429);
  const auto stats = mock.stats();
  CHECK(stat(stats, "rate_limited") == 0);
  CHECK(stat(stats, "faults", "quota") == 3);
}

TEST_CASE("mock: --latency-ms delays each answer") {
  MockServer mock({"--latency-ms", "200", "--latency-sigma", "0"});
  const HttpResponse r = perform(chat_call(mock, "hi"));
  CHECK(r.status == 200);
  CHECK(r.elapsed >= std::chrono::milliseconds(150));
}

TEST_CASE("mock: /stats counts requests by status and route, and resets") {
  MockServer mock;
  for (int i = 0; i < 3; ++i) REQUIRE(perform(chat_call(mock, "hello")).status == 200);
  REQUIRE(perform(chat_call(mock, "")).status == 400);
  REQUIRE(perform(messages_call(mock, "hello")).status == 200);
  REQUIRE(perform(embeddings_call(mock, "hello")).status == 200);

  const auto stats = mock.stats();
  CHECK(stat(stats, "requests") == 6);  // /stats itself is not counted
  CHECK(stat(stats, "by_status", "200") == 5);
  CHECK(stat(stats, "by_status", "400") == 1);
  CHECK(stat(stats, "by_route", "/v1/chat/completions") == 4);
  CHECK(stat(stats, "by_route", "/v1/messages") == 1);
  CHECK(stat(stats, "by_route", "/v1/embeddings") == 1);
  CHECK(stat(stats, "in_flight") == 0);
  CHECK(stat(stats, "peak_concurrency") == 1);
  CHECK(stat(stats, "per_minute_peak") == 6);
  CHECK(stat(stats, "rate_limited") == 0);
  // Chat: 2 prompt + 7 completion tokens, three times; messages the same; embeddings 2.
  CHECK(stat(stats, "tokens") == 3 * 9 + 9 + 2);
  for (const auto* fault : {"error", "reset", "malformed", "hang", "quota"}) CHECK(stat(stats, "faults", fault) == 0);

  mock.reset_stats();
  const auto after = mock.stats();
  CHECK(stat(after, "requests") == 0);
  CHECK(after.at("by_status").as_object().empty());
  CHECK(after.at("by_route").as_object().empty());
  CHECK(stat(after, "tokens") == 0);
  CHECK(stat(after, "per_minute_peak") == 0);
  CHECK(stat(after, "peak_concurrency") == 0);
}

TEST_CASE("mock: concurrent requests wait together and show in peak_concurrency") {
  MockServer mock({"--latency-ms", "300", "--latency-sigma", "0"});
  std::vector<HttpCall> calls;
  for (int i = 0; i < 20; ++i) calls.push_back(chat_call(mock, "item " + std::to_string(i)));
  const auto responses = perform_concurrently(calls);
  for (std::size_t i = 0; i < responses.size(); ++i) {
    CHECK(responses[i].status == 200);
    CHECK(responses[i].json().at("choices").at(0).at("message").at("content").as_string() ==
          expected_reply("item " + std::to_string(i)));
  }
  const auto stats = mock.stats();
  CHECK(stat(stats, "peak_concurrency") >= 20);
  CHECK(stat(stats, "in_flight") == 0);
}

TEST_CASE("mock: one thread holds 512 requests in flight (latency is a timer, not a thread)") {
  MockServer mock({"--threads", "1", "--latency-ms", "1000", "--latency-sigma", "0"});
  std::vector<HttpCall> calls(512, chat_call(mock, "load"));
  for (auto& call : calls) call.timeout_ms = 30000;
  const auto responses = perform_concurrently(calls);
  std::size_t ok = 0;
  for (const auto& r : responses) ok += r.status == 200 ? 1 : 0;
  CHECK(ok == 512);
  CHECK(stat(mock.stats(), "peak_concurrency") >= 512);
}

}  // namespace flowbatch::test
