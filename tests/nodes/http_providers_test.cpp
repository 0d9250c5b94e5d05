// The HTTP providers' wire formats and error classification, without a server: dispatch() builds
// the request, parse() reads canned responses.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "flowbatch/http.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
HttpResponse response(int status, std::string body, std::vector<HttpHeader> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

CallRequest chat(std::string prompt) {
  CallRequest r;
  r.model = "gpt-test";
  r.messages = {{"system", "be brief"}, {"user", std::move(prompt)}};
  return r;
}

/// The class of a result that must have failed; fails the test (instead of reading an empty
/// optional, which could pass by chance) when it did not.
ErrorClass failure_class(const CallResult& r) {
  REQUIRE(r.failure);
  return r.failure->error_class;
}

const std::string* header(const HttpRequest& r, const std::string& name) {
  for (const auto& h : r.headers)
    if (h.name == name) return &h.value;
  return nullptr;
}
}  // namespace

TEST_CASE("status codes map to error classes") {
  CHECK(class_of_status(429) == ErrorClass::rate_limit);
  CHECK(class_of_status(500) == ErrorClass::server);
  CHECK(class_of_status(503) == ErrorClass::server);
  CHECK(class_of_status(529) == ErrorClass::server);
  CHECK(class_of_status(408) == ErrorClass::timeout);
  CHECK(class_of_status(401) == ErrorClass::auth);
  CHECK(class_of_status(403) == ErrorClass::auth);
  CHECK(class_of_status(400) == ErrorClass::invalid_request);
  CHECK(class_of_status(404) == ErrorClass::invalid_request);
  CHECK(class_of_status(422) == ErrorClass::invalid_request);
}

TEST_CASE("Retry-After is read in milliseconds, seconds or as an HTTP date") {
  CHECK(retry_after_ms(response(429, "", {{"retry-after-ms", "1500"}, {"retry-after", "9"}})) == 1500);
  CHECK(retry_after_ms(response(429, "", {{"retry-after", "2"}})) == 2000);
  CHECK(retry_after_ms(response(429, "", {{"retry-after", "0.5"}})) == 500);
  CHECK(retry_after_ms(response(429, "")) == -1);
  CHECK(retry_after_ms(response(429, "", {{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}})) == 0);  // in the past
  CHECK(retry_after_ms(response(429, "", {{"retry-after", "soon"}})) == -1);
  // Not a usable wait (once overflowing conversions, found by fuzzing): as if none was given.
  CHECK(retry_after_ms(response(429, "", {{"retry-after-ms", "1e30"}})) == -1);
  CHECK(retry_after_ms(response(429, "", {{"retry-after-ms", "inf"}, {"retry-after", "3"}})) == 3000);
  CHECK(retry_after_ms(response(429, "", {{"retry-after", "nan"}})) == -1);
  CHECK(retry_after_ms(response(429, "", {{"retry-after", "604800"}})) == 604800000);  // a week: the longest taken
  CHECK(retry_after_ms(response(429, "", {{"retry-after", "604801"}})) == -1);
  CHECK(retry_after_ms(response(429, "", {{"retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"}})) == -1);
}

TEST_CASE("URLs join without doubling the API version") {
  CHECK(join_url("https://api.openai.com/v1", "/chat/completions") == "https://api.openai.com/v1/chat/completions");
  CHECK(join_url("https://api.openai.com/v1/", "/v1/chat/completions") == "https://api.openai.com/v1/chat/completions");
  CHECK(join_url("http://127.0.0.1:8000/v1", "/v1/embeddings") == "http://127.0.0.1:8000/v1/embeddings");
  CHECK(join_url("http://host/api", "/v1/x") == "http://host/api/v1/x");
  CHECK(join_url("http://127.0.0.1:8000/v1", "v1/embeddings") == "http://127.0.0.1:8000/v1/embeddings");
  CHECK(join_url("http://127.0.0.1:8000/v1//", "chat/completions") == "http://127.0.0.1:8000/v1/chat/completions");
  CHECK(join_url("http://127.0.0.1:8000/v1", "/v10/x") == "http://127.0.0.1:8000/v1/v10/x");
  CHECK(join_url("http://127.0.0.1:8000/v1/", "") == "http://127.0.0.1:8000/v1");
}

TEST_CASE("openai: chat requests carry the model, messages, options and the key") {
  ::setenv("FLOWBATCH_TEST_OPENAI_KEY", "sk-test-openai-123456", 1);
  auto p = make_provider("openai",
                         "base_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"FLOWBATCH_TEST_OPENAI_KEY\"\n"
                         "max_tokens_field = \"max_completion_tokens\"\norganization = \"org-1\"");
  CallRequest r = chat("hello");
  r.temperature = 0.2;
  r.max_tokens = 50;
  r.response_format = boost::json::object{{"type", "json_object"}};
  Dispatch d = p->dispatch(r);
  REQUIRE(d.kind == Dispatch::Kind::http);
  CHECK(d.http.url == "http://127.0.0.1:9/v1/chat/completions");
  CHECK(*header(d.http, "Authorization") == "Bearer sk-test-openai-123456");
  CHECK(*header(d.http, "OpenAI-Organization") == "org-1");
  const auto body = boost::json::parse(d.http.body).as_object();
  CHECK(body.at("model").as_string() == "gpt-test");
  CHECK(body.at("messages").as_array().size() == 2);
  CHECK(body.at("messages").as_array()[1].at("content").as_string() == "hello");
  CHECK(body.at("temperature").as_double() == 0.2);
  CHECK(body.at("max_completion_tokens").as_int64() == 50);
  CHECK(body.at("response_format").at("type").as_string() == "json_object");
}

TEST_CASE("openai: answers, usage and every error class") {
  auto p = make_provider("openai", "base_url = \"http://x/v1\"\napi_key_env = \"\"");
  const CallRequest r = chat("hi");
  CallResult ok = p->parse(
      r, response(200,
                  R"({"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],
                                           "usage":{"prompt_tokens":12,"completion_tokens":3}})",
                  {{"x-request-id", "req_1"}}));
  REQUIRE(!ok.failure);
  CHECK(ok.outputs.at(0).as_string() == "Hello!");
  CHECK(ok.finish_reason == "stop");
  CHECK(ok.usage.input_tokens == 12);
  CHECK(ok.usage.output_tokens == 3);
  CHECK(ok.request_id == "req_1");

  auto rate = p->parse(r, response(429, R"({"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}})",
                                   {{"retry-after", "3"}, {"x-request-id", "req_2"}}));
  REQUIRE(rate.failure);
  CHECK(rate.failure->error_class == ErrorClass::rate_limit);
  CHECK(rate.failure->retry_after_ms == 3000);
  CHECK(rate.failure->message == "HTTP 429: Rate limit reached");
  CHECK(rate.failure->request_id == "req_2");
  auto quota = p->parse(
      r,
      response(
          429,
          R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}})"));
  CHECK(failure_class(quota) == ErrorClass::quota);
  CHECK(failure_class(p->parse(r, response(503, "upstream down"))) == ErrorClass::server);
  CHECK(failure_class(p->parse(r, response(401, R"({"error":{"message":"bad key"}})"))) == ErrorClass::auth);
  CHECK(failure_class(p->parse(r, response(400, R"({"error":{"message":"bad request"}})"))) ==
        ErrorClass::invalid_request);
  auto broken = p->parse(r, response(200, R"({"choices":[{"message":{"content":"trunc)"));
  CHECK(failure_class(broken) == ErrorClass::malformed);  // truncated: a retry is likely to cure it
  CHECK(failure_class(p->parse(r, response(200, R"({"id":"x"})"))) == ErrorClass::malformed);
  CHECK(failure_class(p->parse(r, response(200, "<html>502 Bad Gateway</html>"))) == ErrorClass::malformed);
  auto no_text =
      p->parse(r, response(200, R"({"choices":[{"message":{"content":null},"finish_reason":"tool_calls"}]})"));
  CHECK(failure_class(no_text) == ErrorClass::parse);  // the model's own choice: a retry would repeat it
  auto empty_choice = p->parse(r, response(200, R"({"choices":[{"message":{"role":"assistant"}}]})"));
  CHECK(failure_class(empty_choice) == ErrorClass::malformed);
}

TEST_CASE("token counts and indexes that are not whole numbers are ignored, never thrown on") {
  // Found by fuzzing: to_number threw on these, failing a good answer as unreadable.
  auto openai = make_provider("openai", "api_key_env = \"\"");
  const std::string choices = R"("choices":[{"message":{"content":"ok"},"finish_reason":"stop"}])";
  for (const char* usage : {R"({"prompt_tokens":1.5,"completion_tokens":-3})",
                            R"({"prompt_tokens":1e30,"completion_tokens":18446744073709551615})",
                            R"({"prompt_tokens":"12","completion_tokens":null})"}) {
    CallResult r = openai->parse(chat("hi"), response(200, "{" + choices + R"(,"usage":)" + usage + "}"));
    REQUIRE_MESSAGE(!r.failure, usage);
    CHECK(r.usage.input_tokens == 0);
    CHECK(r.usage.output_tokens == 0);
  }
  CHECK(openai->parse(chat("hi"), response(200, "{" + choices + R"(,"usage":{"prompt_tokens":12.0}})"))
            .usage.input_tokens == 12);

  CallRequest embed;
  embed.endpoint = Endpoint::embeddings;
  embed.inputs = {"a", "b"};
  auto odd_index =
      openai->parse(embed, response(200, R"({"data":[{"index":-1,"embedding":[1]},{"index":0.5,"embedding":[2]},
                                                          {"index":1.0,"embedding":[3]},{"index":0,"embedding":[4]}]})"));
  REQUIRE(!odd_index.failure);
  CHECK(odd_index.outputs[0].as_array()[0].as_int64() == 4);
  CHECK(odd_index.outputs[1].as_array()[0].as_int64() == 3);

  auto anthropic = make_provider("anthropic", "api_key_env = \"\"");
  CallResult a = anthropic->parse(chat("hi"), response(200, R"({"content":[{"type":"text","text":"ok"}],
      "usage":{"input_tokens":9999999999999999999999996,"output_tokens":2.5}})"));
  REQUIRE(!a.failure);
  CHECK(a.usage.input_tokens == 0);
  CHECK(a.usage.output_tokens == 0);
}

TEST_CASE("openai: embeddings keep the order of the inputs") {
  auto p = make_provider("openai", "api_key_env = \"\"");
  CallRequest r;
  r.endpoint = Endpoint::embeddings;
  r.model = "emb";
  r.inputs = {"a", "b"};
  Dispatch d = p->dispatch(r);
  CHECK(d.http.url == "https://api.openai.com/v1/embeddings");
  CHECK(boost::json::parse(d.http.body).at("input").as_array().size() == 2);
  auto result = p->parse(r, response(200, R"({"data":[{"index":1,"embedding":[2.0]},{"index":0,"embedding":[1.0]}]})"));
  REQUIRE(!result.failure);
  CHECK(result.outputs[0].as_array()[0].as_double() == 1.0);
  CHECK(result.outputs[1].as_array()[0].as_double() == 2.0);
  auto short_answer = p->parse(r, response(200, R"({"data":[{"index":0,"embedding":[1.0]}]})"));
  CHECK(failure_class(short_answer) == ErrorClass::malformed);
}

TEST_CASE("openai: passthrough sends a batch line's body to its url and keeps the whole answer") {
  auto p = make_provider("openai", "base_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"\"");
  CallRequest r;
  r.endpoint = Endpoint::passthrough;
  r.url_path = "/v1/chat/completions";
  r.body = boost::json::object{{"model", "m"}, {"messages", boost::json::array{}}};
  Dispatch d = p->dispatch(r);
  CHECK(d.http.url == "http://127.0.0.1:9/v1/chat/completions");
  CHECK(boost::json::parse(d.http.body).at("model").as_string() == "m");
  auto result = p->parse(r, response(200, R"({"id":"x","choices":[]})", {{"x-request-id", "req_9"}}));
  REQUIRE(!result.failure);
  CHECK(result.outputs[0].at("id").as_string() == "x");
  CHECK(result.http_status == 200);
}

TEST_CASE("anthropic: the system prompt goes beside the messages — text blocks are joined") {
  ::setenv("FLOWBATCH_TEST_ANTHROPIC_KEY", "sk-ant-test-987654", 1);
  auto p = make_provider("anthropic", "api_key_env = \"FLOWBATCH_TEST_ANTHROPIC_KEY\"\ndefault_max_tokens = 300");
  Dispatch d = p->dispatch(chat("write"));
  CHECK(d.http.url == "https://api.anthropic.com/v1/messages");
  CHECK(*header(d.http, "x-api-key") == "sk-ant-test-987654");
  CHECK(*header(d.http, "anthropic-version") == "2023-06-01");
  const auto body = boost::json::parse(d.http.body).as_object();
  CHECK(body.at("system").as_string() == "be brief");
  CHECK(body.at("messages").as_array().size() == 1);
  CHECK(body.at("max_tokens").as_int64() == 300);

  auto ok = p->parse(chat("write"),
                     response(200, R"({"content":[{"type":"text","text":"Two "},{"type":"text","text":"parts."}],
      "stop_reason":"max_tokens","usage":{"input_tokens":9,"output_tokens":4}})",
                              {{"request-id", "req_a"}}));
  REQUIRE(!ok.failure);
  CHECK(ok.outputs[0].as_string() == "Two parts.");
  CHECK(ok.finish_reason == "length");
  CHECK(ok.usage.output_tokens == 4);
  CHECK(ok.request_id == "req_a");
  CHECK(failure_class(p->parse(
            chat("x"),
            response(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"))) ==
        ErrorClass::server);
  auto credit = p->parse(
      chat("x"),
      response(
          400,
          R"({"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}})"));
  CHECK(failure_class(credit) == ErrorClass::quota);
  CHECK(!p->supports(Endpoint::embeddings));
}

TEST_CASE("http: URL, headers and body are templates — the answer is found by a JSON pointer") {
  ::setenv("FLOWBATCH_TEST_HTTP_KEY", "secret-http-key-42", 1);
  auto p = make_provider("http", R"(
url = "http://127.0.0.1:9/score/{{id}}"
headers = { Authorization = "Token {{api_key}}", X-Model = "{{model}}" }
body = { text = "{{prompt}}", meta = { lang = "{{lang}}" } }
result_pointer = "/result/score"
api_key_env = "FLOWBATCH_TEST_HTTP_KEY"
)");
  Item item;
  item.fields = boost::json::object{{"id", "a1"}, {"lang", "de"}};
  const Item* items[] = {&item};
  CallRequest r = chat("Hallo \"Welt\"");
  r.items = items;
  Dispatch d = p->dispatch(r);
  CHECK(d.http.url == "http://127.0.0.1:9/score/a1");
  CHECK(*header(d.http, "Authorization") == "Token secret-http-key-42");
  CHECK(*header(d.http, "X-Model") == "gpt-test");
  const auto body = boost::json::parse(d.http.body).as_object();  // still valid JSON: strings are escaped
  CHECK(body.at("text").as_string() == "Hallo \"Welt\"");
  CHECK(body.at("meta").at("lang").as_string() == "de");
  auto ok = p->parse(r, response(200, R"({"result":{"score":0.75}})"));
  REQUIRE(!ok.failure);
  CHECK(ok.outputs[0].as_double() == 0.75);
  CHECK(failure_class(p->parse(r, response(200, R"({"other":1})"))) == ErrorClass::malformed);
}

TEST_CASE("http: header names and values that could split a header, and non-http URLs, are configuration errors") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  const std::string graph = R"(
[providers.h]
type = "http"
url = "ftp://files.example.com/{{id}}"
headers = { "X-A: b" = "v", X-B = "line\r\nX-Injected: yes" }
[providers.o]
type = "openai"
api_key_env = ""
headers = { X-C = "v\nX-Injected: yes" }
[sources.in]
path = "in.jsonl"
[calls.c]
inputs = ["in"]
provider = "h"
prompt = "{{text}}"
[calls.d]
inputs = ["in"]
provider = "o"
prompt = "{{text}}"
[sinks.out]
inputs = ["c", "d"]
path = "out.jsonl"
)";
  const auto r = compile_text(graph, dir);
  CHECK(!r.plan);
  const std::string all = r.diagnostics.str();
  CHECK(all.find("providers.h.url: must be an http:// or https:// URL (found ftp://)") != std::string::npos);
  CHECK(all.find("header name \"X-A: b\" may not hold a colon") != std::string::npos);
  CHECK(all.find("header \"X-B\" may not hold a line break") != std::string::npos);
  CHECK(all.find("header \"X-C\" may not hold a line break") != std::string::npos);
}
