// The built-in batch APIs' pure parts (nodes/providers/*_batch.cpp): the lines they write from an
// online request, and how they read batches and result lines back. Their HTTP side is tested
// against flowbatch-mock in tests/e2e/batch_api_test.cpp.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "nodes/providers/batch_apis.h"

using namespace flowbatch;

namespace {

HttpRequest online_request(const std::string& url) {
  HttpRequest r;
  r.url = url;
  r.body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  return r;
}

HttpResponse batch_answer(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

TEST_CASE("OpenAI batch: a line is the online request's body as is, under its path, and results join by custom_id") {
  const auto api = make_openai_batch_api("https://api.example.com/v1", {{"Authorization", "Bearer k"}});
  const auto line =
      boost::json::parse(api->line("fb-1", online_request("https://api.example.com/v1/chat/completions")));
  CHECK(line.at("custom_id") == "fb-1");
  CHECK(line.at("url") == "/v1/chat/completions");
  CHECK(line.at("body").at("messages").at(0).at("content") == "hi");

  const HttpRequest create =
      api->create("fbjob-9", "tickets", "file-1", online_request("https://api.example.com/v1/chat/completions"));
  const auto body = boost::json::parse(create.body);
  CHECK(body.at("endpoint") == "/v1/chat/completions");
  CHECK(body.at("metadata").at("flowbatch_job") == "fbjob-9");
  CHECK(create.url == "https://api.example.com/v1/batches");

  const auto results = api->read_results(
      R"({"id":"r1","custom_id":"fb-1","response":{"status_code":200,"request_id":"req_1","body":{"x":1}},"error":null})"
      "\n"
      R"({"id":"r2","custom_id":"fb-2","response":null,"error":{"code":"batch_expired","message":"late"}})"
      "\nnot json\n");
  REQUIRE(results.size() == 2);
  CHECK(results[0].answered);
  CHECK(results[0].response.status == 200);
  CHECK(*results[0].response.header("x-request-id") == "req_1");
  CHECK_FALSE(results[1].answered);
  CHECK(results[1].why.find("batch_expired") != std::string::npos);

  const auto job = api->read_job(batch_answer(
      200, R"({"id":"batch_1","status":"completed","output_file_id":"file-o","error_file_id":"file-e",)"
           R"("request_counts":{"total":3,"completed":2,"failed":1},"metadata":{"flowbatch_job":"fbjob-9"}})"));
  const auto& status = std::get<BatchJobStatus>(job);
  CHECK(status.ended);
  CHECK(status.results == std::vector<std::string>{"file-o", "file-e"});
  CHECK(status.job_key == "fbjob-9");
  CHECK(std::get<Failure>(api->read_job(batch_answer(500, "oops"))).error_class == ErrorClass::server);
}

TEST_CASE("OpenAI batch: a refusal for the enqueued-token queue is told apart from a refused input, in both forms") {
  const auto api = make_openai_batch_api("https://api.example.com/v1", {});
  // As OpenAI does it: the batch is created, and fails with no line run.
  const auto failed = std::get<BatchJobStatus>(api->read_job(batch_answer(
      200, R"({"id":"batch_2","status":"failed","errors":{"object":"list","data":[{"code":"token_limit_exceeded",)"
           R"("message":"Enqueued token limit reached for gpt-4o-mini in organization org-x."}]}})")));
  CHECK(failed.refused);
  CHECK(failed.queue_full);
  CHECK(failed.id == "batch_2");
  CHECK(failed.error.find("Enqueued token limit reached") != std::string::npos);
  // A create refused outright with that code: no batch.
  const auto refused = std::get<BatchJobStatus>(api->read_job(
      batch_answer(429, R"({"error":{"message":"Enqueued token limit reached","type":"invalid_request_error",)"
                        R"("code":"token_limit_exceeded"}})")));
  CHECK(refused.queue_full);
  CHECK(refused.id.empty());
  // Any other failure is the job's own.
  const auto invalid = std::get<BatchJobStatus>(api->read_job(batch_answer(
      200, R"({"id":"batch_3","status":"failed","errors":{"data":[{"code":"invalid_file","message":"bad line"}]}})")));
  CHECK(invalid.refused);
  CHECK_FALSE(invalid.queue_full);
  CHECK(
      std::get<Failure>(api->read_job(batch_answer(400, R"({"error":{"message":"no","code":"other"}})"))).error_class ==
      ErrorClass::invalid_request);
}

TEST_CASE(
    "Anthropic batch: results map onto the online answers' statuses, and results are fetched only from its host") {
  const auto api = make_anthropic_batch_api("https://api.anthropic.test/v1", {{"x-api-key", "k"}});
  const auto create =
      api->create("fbjob-1", "p", api->line("a", online_request("")) + "\n" + api->line("b", online_request("")) + "\n",
                  online_request(""));
  CHECK(boost::json::parse(create.body).at("requests").as_array().size() == 2);

  const auto results = api->read_results(
      R"({"custom_id":"a","result":{"type":"succeeded","message":{"id":"msg_1"}}})"
      "\n"
      R"({"custom_id":"b","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}}})"
      "\n"
      R"({"custom_id":"c","result":{"type":"errored","error":{"type":"error","error":{"type":"overloaded_error","message":"busy"}}}})"
      "\n"
      R"({"custom_id":"d","result":{"type":"expired"}})");
  REQUIRE(results.size() == 4);
  CHECK(results[0].response.status == 200);
  CHECK(results[1].response.status == 400);
  CHECK(results[2].response.status == 529);
  CHECK_FALSE(results[3].answered);

  CHECK(api->fetch("https://api.anthropic.test/v1/messages/batches/x/results").has_value());
  CHECK_FALSE(api->fetch("https://elsewhere.test/results").has_value());  // the key never goes there
}
