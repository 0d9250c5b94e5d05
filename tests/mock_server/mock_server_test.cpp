// flowbatch-mock's routes through real HTTP: bodies, determinism, validation, authentication.
// Rate limits, faults, latency and stats are in mock_server_limits_test.cpp.
#include <doctest/doctest.h>

#include <regex>

#include "engine/core/hash.h"
#include "tests/mock_server/http_client.h"
#include "tests/support/fixtures.h"

namespace flowbatch::test {
namespace {

namespace json = boost::json;

std::string chat_content(const HttpResponse& r) {
  return std::string(r.json().at("choices").at(0).at("message").at("content").as_string());
}

std::string messages_text(const HttpResponse& r) {
  return std::string(r.json().at("content").at(0).at("text").as_string());
}

/// Checks an OpenAI-shaped error and returns its message.
std::string openai_error_message(const HttpResponse& r, std::string_view type) {
  const json::value body = r.json();
  const auto& error = body.at("error").as_object();
  CHECK(error.at("type").as_string() == type);
  CHECK(error.contains("param"));
  CHECK(error.contains("code"));
  return std::string(error.at("message").as_string());
}

/// Checks an Anthropic-shaped error and returns its message.
std::string anthropic_error_message(const HttpResponse& r, std::string_view type) {
  const auto body = r.json();
  CHECK(body.at("type").as_string() == "error");
  CHECK(body.at("error").at("type").as_string() == type);
  return std::string(body.at("error").at("message").as_string());
}

const std::regex kRequestId("req_[0-9a-f]{16}");

}  // namespace

TEST_CASE("mock: a chat completion has OpenAI's shape and a predictable reply") {
  MockServer mock;
  const HttpResponse r = perform(chat_call(mock, "Classify: my parcel is late"));
  REQUIRE(r.curl_code == CURLE_OK);
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(std::regex_match(r.header("x-request-id"), kRequestId));

  const auto body = r.json().as_object();
  CHECK(std::regex_match(std::string(body.at("id").as_string()), std::regex("chatcmpl-[0-9a-f]{16}")));
  CHECK(body.at("object").as_string() == "chat.completion");
  CHECK(body.at("created").as_int64() > 1'600'000'000);
  CHECK(body.at("model").as_string() == "mock-model");
  const auto& choice = body.at("choices").at(0).as_object();
  CHECK(choice.at("index").as_int64() == 0);
  CHECK(choice.at("message").at("role").as_string() == "assistant");
  CHECK(choice.at("message").at("content").as_string() == expected_reply("Classify: my parcel is late"));
  CHECK(choice.at("finish_reason").as_string() == "stop");
  // 27 prompt characters -> 7 tokens; "mock reply " + 16 hex digits = 27 characters -> 7 tokens.
  const auto& usage = body.at("usage").as_object();
  CHECK(usage.at("prompt_tokens").as_int64() == 7);
  CHECK(usage.at("completion_tokens").as_int64() == 7);
  CHECK(usage.at("total_tokens").as_int64() == 14);
}

TEST_CASE("mock: the reply depends only on the last user message") {
  MockServer mock;
  MockServer other_seed({"--seed", "99"});
  const std::string first = chat_content(perform(chat_call(mock, "alpha")));
  CHECK(first == expected_reply("alpha"));
  CHECK(chat_content(perform(chat_call(mock, "alpha"))) == first);
  CHECK(chat_content(perform(chat_call(other_seed, "alpha"))) == first);
  CHECK(chat_content(perform(chat_call(mock, "beta"))) != first);

  // Earlier turns and the system prompt do not change it; they do count as prompt tokens.
  const json::array conversation{{{"role", "system"}, {"content", "Be brief."}},
                                 {{"role", "user"}, {"content", "earlier question"}},
                                 {{"role", "assistant"}, {"content", "earlier answer"}},
                                 {{"role", "user"}, {"content", "alpha"}}};
  const HttpResponse r = perform(chat_call(mock, "ignored", {{"messages", conversation}}));
  CHECK(chat_content(r) == first);
  CHECK(r.json().at("usage").at("prompt_tokens").as_int64() == (9 + 16 + 14 + 5 + 3) / 4);

  // Content given as text parts is read like a string.
  const json::array parts{
      {{"role", "user"},
       {"content", json::array{{{"type", "text"}, {"text", "al"}}, {{"type", "text"}, {"text", "pha"}}}}}};
  CHECK(chat_content(perform(chat_call(mock, "ignored", {{"messages", parts}}))) == first);
}

TEST_CASE("mock: --replies picks the reply by the prompt's hash") {
  const std::vector<std::string> replies = {"billing", "shipping", "technical"};
  MockServer mock({"--replies", "billing,shipping,technical"});
  for (const std::string text : {"one", "two", "three", "four"})
    CHECK(chat_content(perform(chat_call(mock, text))) == replies[stable_hash(text) % replies.size()]);
}

TEST_CASE("mock: JSON response formats answer a JSON object") {
  MockServer mock;
  for (const std::string format : {"json_object", "json_schema"}) {
    CAPTURE(format);
    const HttpResponse r = perform(chat_call(mock, "hello world", {{"response_format", {{"type", format}}}}));
    REQUIRE(r.status == 200);
    const json::value content = json::parse(chat_content(r));
    CHECK(content.at("reply").as_string() == hex16(stable_hash("hello world")));
    CHECK(content.at("chars").as_int64() == 11);
  }
  const HttpResponse text = perform(chat_call(mock, "hello world", {{"response_format", {{"type", "text"}}}}));
  CHECK(chat_content(text) == expected_reply("hello world"));
  const HttpResponse unknown = perform(chat_call(mock, "hello world", {{"response_format", {{"type", "yaml"}}}}));
  CHECK(unknown.status == 400);
}

TEST_CASE("mock: max_tokens cuts the reply and reports finish_reason length") {
  MockServer mock;
  for (const std::string key : {"max_tokens", "max_completion_tokens"}) {
    CAPTURE(key);
    const HttpResponse cut = perform(chat_call(mock, "abc", {{key, 2}}));
    REQUIRE(cut.status == 200);
    CHECK(chat_content(cut) == expected_reply("abc").substr(0, 8));
    CHECK(cut.json().at("choices").at(0).at("finish_reason").as_string() == "length");
    CHECK(cut.json().at("usage").at("completion_tokens").as_int64() == 2);
  }
  const HttpResponse roomy = perform(chat_call(mock, "abc", {{"max_tokens", 7}}));
  CHECK(chat_content(roomy) == expected_reply("abc"));
  CHECK(roomy.json().at("choices").at(0).at("finish_reason").as_string() == "stop");
  CHECK(perform(chat_call(mock, "abc", {{"max_tokens", 0}})).status == 400);
  CHECK(perform(chat_call(mock, "abc", {{"max_tokens", "ten"}})).status == 400);
}

TEST_CASE("mock: embeddings are 8 deterministic numbers in [-1, 1] per input") {
  MockServer mock;
  const HttpResponse r = perform(embeddings_call(mock, json::array{"first text", "second text", "first text"}));
  REQUIRE(r.status == 200);
  CHECK(std::regex_match(r.header("x-request-id"), kRequestId));
  const auto body = r.json().as_object();
  CHECK(body.at("object").as_string() == "list");
  CHECK(body.at("model").as_string() == "mock-embed");
  const auto& data = body.at("data").as_array();
  REQUIRE(data.size() == 3);
  for (std::size_t i = 0; i < data.size(); ++i) {
    CHECK(data[i].at("object").as_string() == "embedding");
    CHECK(data[i].at("index").as_int64() == static_cast<std::int64_t>(i));
    const auto& vector = data[i].at("embedding").as_array();
    REQUIRE(vector.size() == 8);
    for (const auto& x : vector) CHECK((x.to_number<double>() >= -1.0 && x.to_number<double>() <= 1.0));
  }
  CHECK(data[0].at("embedding") == data[2].at("embedding"));
  CHECK(data[0].at("embedding") != data[1].at("embedding"));
  CHECK(body.at("usage").at("prompt_tokens").as_int64() == (10 + 11 + 10 + 3) / 4);
  CHECK(body.at("usage").at("total_tokens").as_int64() == (10 + 11 + 10 + 3) / 4);

  const HttpResponse single = perform(embeddings_call(mock, "first text"));
  REQUIRE(single.status == 200);
  CHECK(single.json().at("data").at(0).at("embedding") == data[0].at("embedding"));

  for (const json::value& bad :
       {json::value(42), json::value(json::array{}), json::value(json::array{"ok", 3}), json::value("  ")}) {
    CAPTURE(json::serialize(bad));
    const HttpResponse rejected = perform(embeddings_call(mock, bad));
    CHECK(rejected.status == 400);
    CHECK(openai_error_message(rejected, "invalid_request_error").find("input") != std::string::npos);
  }
}

TEST_CASE("mock: Anthropic messages have Anthropic's shape") {
  MockServer mock;
  const HttpResponse r = perform(messages_call(mock, "Summarise: the cat sat", {{"system", "Be brief."}}));
  REQUIRE(r.status == 200);
  CHECK(std::regex_match(r.header("request-id"), kRequestId));
  const auto body = r.json().as_object();
  CHECK(std::regex_match(std::string(body.at("id").as_string()), std::regex("msg_[0-9a-f]{16}")));
  CHECK(body.at("type").as_string() == "message");
  CHECK(body.at("role").as_string() == "assistant");
  CHECK(body.at("model").as_string() == "mock-claude");
  CHECK(body.at("content").at(0).at("type").as_string() == "text");
  CHECK(messages_text(r) == expected_reply("Summarise: the cat sat"));
  CHECK(body.at("stop_reason").as_string() == "end_turn");
  CHECK(body.at("stop_sequence").is_null());
  CHECK(body.at("usage").at("input_tokens").as_int64() == (22 + 9 + 3) / 4);
  CHECK(body.at("usage").at("output_tokens").as_int64() == 7);

  const json::array blocks{{{"role", "user"},
                            {"content", json::array{{{"type", "text"}, {"text", "Summarise: "}},
                                                    {{"type", "text"}, {"text", "the cat sat"}}}}}};
  CHECK(messages_text(perform(messages_call(mock, "ignored", {{"messages", blocks}}))) ==
        expected_reply("Summarise: the cat sat"));

  const HttpResponse cut = perform(messages_call(mock, "Summarise: the cat sat", {{"max_tokens", 1}}));
  REQUIRE(cut.status == 200);
  CHECK(messages_text(cut) == "mock");
  CHECK(cut.json().at("stop_reason").as_string() == "max_tokens");
}

TEST_CASE("mock: invalid OpenAI requests are 400 with a message naming the problem") {
  MockServer mock({"--max-prompt-chars", "40"});
  HttpCall no_model = chat_call(mock, "hi");
  no_model.body = R"({"messages":[{"role":"user","content":"hi"}]})";
  const HttpResponse missing_model = perform(no_model);
  CHECK(missing_model.status == 400);
  CHECK(openai_error_message(missing_model, "invalid_request_error").find("model") != std::string::npos);
  CHECK(missing_model.json().at("error").at("param").as_string() == "model");

  const HttpResponse empty = perform(chat_call(mock, "  \n "));
  CHECK(empty.status == 400);
  CHECK(openai_error_message(empty, "invalid_request_error").find("must not be empty") != std::string::npos);

  const HttpResponse no_messages = perform(chat_call(mock, "hi", {{"messages", json::array{}}}));
  CHECK(no_messages.status == 400);
  CHECK(openai_error_message(no_messages, "invalid_request_error").find("messages") != std::string::npos);

  const HttpResponse bad_content =
      perform(chat_call(mock, "hi", {{"messages", json::array{{{"role", "user"}, {"content", 5}}}}}));
  CHECK(bad_content.status == 400);
  CHECK(openai_error_message(bad_content, "invalid_request_error").find("messages[0].content") != std::string::npos);

  const HttpResponse too_long = perform(chat_call(mock, std::string(41, 'x')));
  CHECK(too_long.status == 400);
  CHECK(openai_error_message(too_long, "invalid_request_error").find("41 characters") != std::string::npos);

  HttpCall not_json = chat_call(mock, "hi");
  not_json.body = R"({"model": "m", "messages": [)";
  const HttpResponse unparsable = perform(not_json);
  CHECK(unparsable.status == 400);
  CHECK(openai_error_message(unparsable, "invalid_request_error").find("JSON") != std::string::npos);
}

TEST_CASE("mock: invalid Anthropic requests are 400 in Anthropic's error shape") {
  MockServer mock;
  HttpCall no_version = messages_call(mock, "hi");
  no_version.headers = {"content-type: application/json"};
  const HttpResponse missing_version = perform(no_version);
  CHECK(missing_version.status == 400);
  CHECK(anthropic_error_message(missing_version, "invalid_request_error").find("anthropic-version") !=
        std::string::npos);

  HttpCall no_max_tokens = messages_call(mock, "hi");
  no_max_tokens.body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  const HttpResponse missing_max_tokens = perform(no_max_tokens);
  CHECK(missing_max_tokens.status == 400);
  CHECK(anthropic_error_message(missing_max_tokens, "invalid_request_error").find("max_tokens") != std::string::npos);

  HttpCall no_model = messages_call(mock, "hi");
  no_model.body = R"({"max_tokens":5,"messages":[{"role":"user","content":"hi"}]})";
  const HttpResponse missing_model = perform(no_model);
  CHECK(missing_model.status == 400);
  CHECK(anthropic_error_message(missing_model, "invalid_request_error").find("model") != std::string::npos);

  const HttpResponse empty = perform(messages_call(mock, ""));
  CHECK(empty.status == 400);
  CHECK(anthropic_error_message(empty, "invalid_request_error").find("must not be empty") != std::string::npos);

  const HttpResponse system_role =
      perform(messages_call(mock, "hi", {{"messages", json::array{{{"role", "system"}, {"content", "x"}}}}}));
  CHECK(system_role.status == 400);
}

TEST_CASE("mock: unknown routes are 404") {
  MockServer mock;
  HttpCall get = chat_call(mock, "hi");
  get.method = "GET";
  get.url = mock.base_url() + "/models";
  const HttpResponse r = perform(get);
  CHECK(r.status == 404);
  CHECK(openai_error_message(r, "invalid_request_error").find("/v1/models") != std::string::npos);
}

TEST_CASE("mock: --api-key rejects a wrong key with 401, echoing it on the OpenAI route") {
  MockServer mock({"--api-key", "sk-right-key"});
  HttpCall wrong = chat_call(mock, "hi");
  wrong.headers.push_back("Authorization: Bearer sk-wrong-key-123");
  const HttpResponse rejected = perform(wrong);
  CHECK(rejected.status == 401);
  CHECK(openai_error_message(rejected, "invalid_request_error") == "Incorrect API key provided: sk-wrong-key-123.");
  CHECK(rejected.json().at("error").at("code").as_string() == "invalid_api_key");

  CHECK(perform(chat_call(mock, "hi")).status == 401);  // no key at all
  HttpCall right = chat_call(mock, "hi");
  right.headers.push_back("Authorization: Bearer sk-right-key");
  CHECK(perform(right).status == 200);

  HttpCall anthropic_wrong = messages_call(mock, "hi");
  anthropic_wrong.headers.push_back("x-api-key: sk-wrong-key-123");
  const HttpResponse anthropic_rejected = perform(anthropic_wrong);
  CHECK(anthropic_rejected.status == 401);
  CHECK(anthropic_error_message(anthropic_rejected, "authentication_error") == "invalid x-api-key");
  HttpCall anthropic_right = messages_call(mock, "hi");
  anthropic_right.headers.push_back("x-api-key: sk-right-key");
  CHECK(perform(anthropic_right).status == 200);
}

TEST_CASE("mock: the key may come from FLOWBATCH_MOCK_API_KEY instead of argv") {
  ScopedEnv key("FLOWBATCH_MOCK_API_KEY", "sk-from-env");
  MockServer mock;
  CHECK(perform(chat_call(mock, "hi")).status == 401);
  HttpCall right = chat_call(mock, "hi");
  right.headers.push_back("Authorization: Bearer sk-from-env");
  CHECK(perform(right).status == 200);
}

TEST_CASE("mock: /echo answers with what it received, and a trickle sends one byte a second") {
  MockServer mock({"--trickle-rate", "1"});
  HttpCall echo;
  echo.url = mock.url() + "/echo/a%2Fb?x=1";
  echo.body = "body text";
  echo.headers.push_back("X-Tag: v");
  const HttpResponse r = perform(echo);
  REQUIRE(r.status == 200);
  const auto echoed = r.json();  // kept: the loop below must not iterate inside a temporary
  CHECK(echoed.at("target").as_string() == "/echo/a%2Fb?x=1");
  CHECK(echoed.at("method").as_string() == "POST");
  CHECK(echoed.at("body").as_string() == "body text");
  bool tagged = false;
  for (const auto& h : echoed.at("headers").as_array())
    tagged = tagged || (h.at(0).as_string() == "X-Tag" && h.at(1).as_string() == "v");
  CHECK(tagged);

  HttpCall slow = chat_call(mock, "hi");
  slow.timeout_ms = 2500;
  const HttpResponse trickled = perform(slow);
  CHECK(trickled.curl_code == CURLE_OPERATION_TIMEDOUT);
  CHECK(mock.stats().at("faults").at("trickle").to_number<int>() == 1);
}

TEST_CASE("mock: connections are kept alive and large bodies need no Expect wait") {
  MockServer mock;
  // One easy handle, two requests: the second reuses the connection.
  HttpCall call = chat_call(mock, "first");
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  std::string sink;
  curl_easy_setopt(curl, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.body.c_str());
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char*, std::size_t size, std::size_t n, void*) { return size * n; });
  long connects = -1;
  CHECK(curl_easy_perform(curl) == CURLE_OK);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
  CHECK(connects == 1);
  CHECK(curl_easy_perform(curl) == CURLE_OK);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
  CHECK(connects == 0);
  curl_easy_cleanup(curl);

  // A body over 1 KiB makes curl send "Expect: 100-continue"; the server must answer it, or curl
  // waits for its expect timeout (made longer than the request timeout here) and fails.
  HttpCall large = chat_call(mock, std::string(50'000, 'a'));
  large.headers.push_back("Expect: 100-continue");
  large.timeout_ms = 5000;
  large.expect_continue_timeout_ms = 60000;
  const HttpResponse r = perform(large);
  CHECK(r.curl_code == CURLE_OK);
  CHECK(r.status == 200);
  CHECK(chat_content(r) == expected_reply(std::string(50'000, 'a')));
}

TEST_CASE("mock: SIGTERM stops the server cleanly") {
  MockServer mock({"--threads", "2"});
  CHECK(perform(chat_call(mock, "hi")).status == 200);
  CHECK(mock.terminate() == 0);
}

}  // namespace flowbatch::test
