// flowbatch-mock's batch APIs through real HTTP: OpenAI files and batches, Anthropic message
// batches — status progression, output and error files, per-line errors, expiry, cancel, limits,
// listing, and the per-item submission counts tests rely on.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <functional>
#include <thread>

#include "tests/mock_server/http_client.h"
#include "tests/support/fixtures.h"

namespace flowbatch::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string batch_chat_line(const std::string& id, const std::string& text) {
  return json::serialize(
      json::object{{"custom_id", id},
                   {"method", "POST"},
                   {"url", "/v1/chat/completions"},
                   {"body", {{"model", "m"}, {"messages", json::array{{{"role", "user"}, {"content", text}}}}}}});
}

std::string upload_batch_file(const MockServer& mock, const std::string& lines) {
  HttpCall call;
  call.url = mock.url() + "/v1/files";
  call.headers = {"Content-Type: multipart/form-data; boundary=XyZ"};
  call.body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\r\n" +
      lines + "\r\n--XyZ--\r\n";
  const auto r = perform(call);
  REQUIRE_MESSAGE(r.status == 200, r.body);
  return std::string(r.json().at("id").as_string());
}

json::object batch_call_json(const MockServer& mock, const std::string& method, const std::string& path,
                             const json::value& body = nullptr, long expect = 200) {
  HttpCall call;
  call.method = method;
  call.url = mock.url() + path;
  if (!body.is_null()) call.body = json::serialize(body);
  call.headers = {"Content-Type: application/json", "anthropic-version: 2023-06-01"};
  const auto r = perform(call);
  CHECK_MESSAGE(r.status == expect, r.body);
  return r.json().as_object();
}

std::string batch_get_text(const MockServer& mock, const std::string& path) {
  HttpCall call;
  call.method = "GET";
  call.url = path.starts_with("http") ? path : mock.url() + path;
  const auto r = perform(call);
  CHECK(r.status == 200);
  return r.body;
}

std::vector<json::object> batch_lines_of(const std::string& jsonl) {
  std::vector<json::object> out;
  std::size_t start = 0;
  while (start < jsonl.size()) {
    const auto end = jsonl.find('\n', start);
    out.push_back(json::parse(jsonl.substr(start, end - start)).as_object());
    start = end == std::string::npos ? jsonl.size() : end + 1;
  }
  return out;
}

/// Polls a batch until `done` says so (bounded).
json::object wait_for_batch(const MockServer& mock, const std::string& path,
                            const std::function<bool(const json::object&)>& done) {
  json::object batch;
  for (int i = 0; i < 200; ++i) {
    batch = batch_call_json(mock, "GET", path);
    if (done(batch)) break;
    std::this_thread::sleep_for(50ms);
  }
  return batch;
}

}  // namespace

TEST_CASE(
    "mock: an OpenAI batch goes validating, in_progress, completed, and its output and error files join by custom_id") {
  MockServer mock({"--batch-seconds", "1", "--max-prompt-chars", "100"});
  const std::string file =
      upload_batch_file(mock, batch_chat_line("a", "hello") + "\n" + batch_chat_line("b", std::string(200, 'x')) +
                                  "\n" + batch_chat_line("c", "world") + "\n");
  auto batch = batch_call_json(mock, "POST", "/v1/batches",
                               json::object{{"input_file_id", file},
                                            {"endpoint", "/v1/chat/completions"},
                                            {"completion_window", "24h"},
                                            {"metadata", {{"flowbatch_job", "j1"}}}});
  CHECK(batch.at("status").as_string() == "validating");
  CHECK(batch.at("metadata").at("flowbatch_job").as_string() == "j1");
  const std::string id(batch.at("id").as_string());
  batch =
      wait_for_batch(mock, "/v1/batches/" + id, [](const json::object& b) { return b.at("status") == "completed"; });
  REQUIRE(batch.at("status").as_string() == "completed");
  CHECK(batch.at("request_counts").at("total").to_number<int>() == 3);
  CHECK(batch.at("request_counts").at("completed").to_number<int>() == 2);
  CHECK(batch.at("request_counts").at("failed").to_number<int>() == 1);

  const auto output =
      batch_lines_of(batch_get_text(mock, fmt::format("/v1/files/{}/content", batch.at("output_file_id").as_string())));
  REQUIRE(output.size() == 2);
  for (const auto& line : output) {
    const std::string custom_id(line.at("custom_id").as_string());
    const std::string text = custom_id == "a" ? "hello" : "world";
    CHECK(line.at("response").at("status_code").to_number<int>() == 200);
    CHECK(line.at("response").at("body").at("choices").at(0).at("message").at("content").as_string() ==
          expected_reply(text));
  }
  const auto errors =
      batch_lines_of(batch_get_text(mock, fmt::format("/v1/files/{}/content", batch.at("error_file_id").as_string())));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("custom_id").as_string() == "b");
  CHECK(errors[0].at("response").at("status_code").to_number<int>() == 400);  // the same 400 as online

  // Listed, newest first, with its metadata; counted once per request.
  const auto list = batch_call_json(mock, "GET", "/v1/batches?limit=10");
  CHECK(list.at("data").at(0).at("id").as_string() == id);
  const auto stats = mock.stats().at("batch").as_object();
  CHECK(stats.at("batches").to_number<int>() == 1);
  CHECK(stats.at("per_request").at("distinct").to_number<int>() == 3);
  CHECK(stats.at("per_request").at("max").to_number<int>() == 1);
  // The input file can be deleted.
  CHECK(batch_call_json(mock, "DELETE", "/v1/files/" + file).at("deleted").as_bool());
  batch_call_json(mock, "GET", "/v1/files/" + file, nullptr, 404);
}

TEST_CASE("mock: OpenAI batches fail validation on a duplicate custom_id or too many lines, expire and cancel") {
  MockServer mock({"--batch-seconds", "30", "--batch-expire-seconds", "0.5", "--batch-max-lines", "2"});
  const auto create = [&](const std::string& lines) {
    return batch_call_json(mock, "POST", "/v1/batches",
                           json::object{{"input_file_id", upload_batch_file(mock, lines)},
                                        {"endpoint", "/v1/chat/completions"},
                                        {"completion_window", "24h"}});
  };
  auto dup = create(batch_chat_line("a", "x") + "\n" + batch_chat_line("a", "y") + "\n");
  CHECK(dup.at("status").as_string() == "failed");
  CHECK(std::string(dup.at("errors").at("data").at(0).at("message").as_string()).find("duplicate") !=
        std::string::npos);
  auto many =
      create(batch_chat_line("a", "x") + "\n" + batch_chat_line("b", "y") + "\n" + batch_chat_line("c", "z") + "\n");
  CHECK(many.at("status").as_string() == "failed");

  auto expiring = create(batch_chat_line("a", "x") + "\n");
  const std::string id(expiring.at("id").as_string());
  expiring =
      wait_for_batch(mock, "/v1/batches/" + id, [](const json::object& b) { return b.at("status") == "expired"; });
  REQUIRE(expiring.at("status").as_string() == "expired");
  const auto errors = batch_lines_of(
      batch_get_text(mock, fmt::format("/v1/files/{}/content", expiring.at("error_file_id").as_string())));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("error").at("code").as_string() == "batch_expired");

  auto cancelled = create(batch_chat_line("q", "x") + "\n");
  const std::string cid(cancelled.at("id").as_string());
  CHECK(batch_call_json(mock, "POST", "/v1/batches/" + cid + "/cancel").at("status").as_string() == "cancelling");
  cancelled =
      wait_for_batch(mock, "/v1/batches/" + cid, [](const json::object& b) { return b.at("status") == "cancelled"; });
  CHECK(cancelled.at("status").as_string() == "cancelled");
  CHECK(mock.stats().at("batch").at("cancelled").to_number<int>() == 1);
}

TEST_CASE("mock: an Anthropic message batch ends with succeeded and errored results at its results_url") {
  MockServer mock({"--batch-seconds", "1", "--max-prompt-chars", "100"});
  const auto request = [](const std::string& id, const std::string& text) {
    return json::object{
        {"custom_id", id},
        {"params",
         {{"model", "m"}, {"max_tokens", 64}, {"messages", json::array{{{"role", "user"}, {"content", text}}}}}}};
  };
  auto batch = batch_call_json(
      mock, "POST", "/v1/messages/batches",
      json::object{{"requests", json::array{request("ok-1", "hello"), request("bad-1", std::string(200, 'x'))}}});
  CHECK(batch.at("processing_status").as_string() == "in_progress");
  CHECK(batch.at("results_url").is_null());
  const std::string id(batch.at("id").as_string());
  batch = wait_for_batch(mock, "/v1/messages/batches/" + id,
                         [](const json::object& b) { return b.at("processing_status") == "ended"; });
  REQUIRE(batch.at("processing_status").as_string() == "ended");
  CHECK(batch.at("request_counts").at("succeeded").to_number<int>() == 1);
  CHECK(batch.at("request_counts").at("errored").to_number<int>() == 1);
  const auto results = batch_lines_of(batch_get_text(mock, std::string(batch.at("results_url").as_string())));
  REQUIRE(results.size() == 2);
  for (const auto& r : results) {
    if (r.at("custom_id") == "ok-1") {
      CHECK(r.at("result").at("type").as_string() == "succeeded");
      CHECK(r.at("result").at("message").at("content").at(0).at("text").as_string() == expected_reply("hello"));
    } else {
      CHECK(r.at("result").at("type").as_string() == "errored");
      CHECK(r.at("result").at("error").at("error").at("type").as_string() == "invalid_request_error");
    }
  }
  // A custom_id Anthropic would refuse is a 400 at once.
  batch_call_json(mock, "POST", "/v1/messages/batches",
                  json::object{{"requests", json::array{request("no spaces", "x")}}}, 400);
  CHECK(batch_call_json(mock, "GET", "/v1/messages/batches").at("data").at(0).at("id").as_string() == id);
}

TEST_CASE("mock: Anthropic's processing queue refuses a create past its limit with 429, until a batch ends") {
  MockServer mock({"--batch-seconds", "1", "--batch-processing-requests", "3"});
  const auto requests = [](int n, const std::string& prefix) {
    json::array list;
    for (int i = 0; i < n; ++i)
      list.push_back(json::object{
          {"custom_id", fmt::format("{}-{}", prefix, i)},
          {"params",
           {{"model", "m"}, {"max_tokens", 16}, {"messages", json::array{{{"role", "user"}, {"content", "hi"}}}}}}});
    return json::object{{"requests", std::move(list)}};
  };
  const auto first = batch_call_json(mock, "POST", "/v1/messages/batches", requests(2, "a"));
  // Two in progress, a limit of three: two more would pass it; one more fits.
  const auto refused = batch_call_json(mock, "POST", "/v1/messages/batches", requests(2, "b"), 429);
  CHECK(refused.at("type").as_string() == "error");
  CHECK(refused.at("error").at("type").as_string() == "rate_limit_error");
  CHECK(std::string(refused.at("error").at("message").as_string()).find("processing queue") != std::string::npos);
  batch_call_json(mock, "POST", "/v1/messages/batches", requests(1, "c"));
  CHECK(mock.stats().at("batch").at("queue_full").to_number<int>() == 1);
  CHECK(mock.stats().at("batch").at("batches").to_number<int>() == 2);  // the refused create made none
  // Once the first has ended, its room is free again.
  wait_for_batch(mock, "/v1/messages/batches/" + std::string(first.at("id").as_string()),
                 [](const json::object& b) { return b.at("processing_status") == "ended"; });
  batch_call_json(mock, "POST", "/v1/messages/batches", requests(2, "d"));
}

}  // namespace flowbatch::test
