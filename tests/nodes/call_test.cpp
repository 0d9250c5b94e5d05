#include <doctest/doctest.h>

#include <fmt/format.h>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
std::string graph(const std::string& provider_keys, const std::string& call_keys) {
  return fmt::format(R"(
[providers.sim]
type = "mock"
{}
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "sim"
{}
[dead_letters.dead]
inputs = ["c.error", "in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     provider_keys, call_keys);
}

std::map<std::string, boost::json::object> by_id(const std::vector<boost::json::object>& records) {
  std::map<std::string, boost::json::object> out;
  for (const auto& r : records) out[std::string(r.at("id").as_string())] = r;
  return out;
}
}  // namespace

TEST_CASE("answers land in output_field and are a deterministic function of the request") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(50));
  run_text(graph("", "prompt = \"Say: {{text}}\"\noutput_field = \"answer\""), dir);
  auto first = by_id(read_jsonl(dir / "out.jsonl"));
  REQUIRE(first.size() == 50);
  run_text(graph("", "prompt = \"Say: {{text}}\"\noutput_field = \"answer\""), dir);
  auto second = by_id(read_jsonl(dir / "out.jsonl"));
  REQUIRE(second.size() == 50);
  std::set<std::string> distinct;
  for (auto& [id, r] : first) {
    CHECK(r.at("answer") == second[id].at("answer"));  // same request, same answer
    distinct.insert(std::string(r.at("answer").as_string()));
  }
  CHECK(distinct.size() == 50);  // different items, different answers: each result belongs to its item
  run_text(graph("seed = 9", "prompt = \"Say: {{text}}\"\noutput_field = \"answer\""), dir);
  auto reseeded = by_id(read_jsonl(dir / "out.jsonl"));
  REQUIRE(reseeded.size() == 50);
  CHECK(reseeded["i1"].at("answer") != first["i1"].at("answer"));
}

TEST_CASE("empty and oversized prompts are invalid_request, never retried") {
  TempDir dir;
  dir.write("in.jsonl", "{\"id\": \"ok\", \"text\": \"fine\"}\n{\"id\": \"empty\", \"text\": \"  \"}\n" +
                            fmt::format("{{\"id\": \"huge\", \"text\": \"{}\"}}\n", std::string(500, 'y')));
  auto run = run_text(graph("max_prompt_chars = 200", "prompt = \"{{text}}\""), dir);
  CHECK(run.report.succeeded == 1);
  CHECK(run.report.dead == 2);
  auto dead = by_id(read_jsonl(dir / "dead.jsonl"));
  REQUIRE(dead.size() == 2);
  CHECK(dead["empty"].at("error").at("class").as_string() == "invalid_request");
  CHECK(dead["empty"].at("error").at("message").as_string() == "the prompt is empty");
  CHECK(dead["empty"].at("error").at("http_status").as_int64() == 400);
  CHECK(dead["huge"].at("error").at("message").as_string().starts_with("the prompt is "));
  CHECK(dead["huge"].at("attempts").as_int64() == 1);
}

TEST_CASE("parse = json merges the answer's fields, or nests them under output_field") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(5));
  run_text(graph("replies = ['{\"label\": \"billing\", \"score\": 0.5}']", "prompt = \"{{text}}\"\nparse = \"json\""),
           dir);
  const auto merged = read_jsonl(dir / "out.jsonl");
  REQUIRE(merged.size() == 5);
  for (const auto& r : merged) {
    CHECK(r.at("label").as_string() == "billing");
    CHECK(r.at("score").as_double() == 0.5);
  }
  run_text(graph("replies = [\"```json\\n{\\\"label\\\": \\\"x\\\"}\\n```\"]",
                 "prompt = \"{{text}}\"\nparse = \"json\"\noutput_field = \"result\""),
           dir);
  const auto nested = read_jsonl(dir / "out.jsonl");
  REQUIRE(nested.size() == 5);
  for (const auto& r : nested) CHECK(r.at("result").at("label").as_string() == "x");
}

TEST_CASE("an answer that is not the JSON asked for is a parse error on that item") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(4));
  auto run = run_text(graph("replies = ['not json at all']", "prompt = \"{{text}}\"\nparse = \"json\""), dir);
  CHECK(run.report.dead == 4);
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 4);
  for (const auto& r : dead) {
    CHECK(r.at("error").at("class").as_string() == "parse");
    CHECK(r.at("error").at("message").as_string().starts_with("the model's answer is not valid JSON"));
  }
}

TEST_CASE("passthrough sends each item's body and keeps the response whole") {
  TempDir dir;
  dir.write(
      "in.jsonl",
      "{\"custom_id\": \"r1\", \"method\": \"POST\", \"url\": \"/v1/chat/completions\", \"body\": {\"model\": \"m\", "
      "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}}\n"
      "{\"custom_id\": \"r2\", \"url\": \"/v1/chat/completions\"}\n");
  auto run = run_text(graph("", ""), dir, {"sources.in.id_field=\"custom_id\""});
  CHECK(run.report.succeeded == 1);
  CHECK(run.report.dead == 1);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 1);
  const auto& response = out[0].at("response").as_object();
  CHECK(response.at("status_code").as_int64() == 200);
  CHECK(response.at("body").at("object").as_string() == "chat.completion");
  CHECK(response.at("body").at("model").as_string() == "m");
  const auto dead = read_jsonl(dir / "dead.jsonl");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].at("error").at("message").as_string().find("no \"body\"") != std::string::npos);
}

TEST_CASE("embeddings answer every item of a batch in one request") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(12));
  auto run = run_text(graph("embedding_dims = 4", "endpoint = \"embeddings\"\nprompt = \"{{text}}\"") +
                          "\n[batches.b]\ninputs = [\"in\"]\nmax_items = 6\n",
                      dir, {"calls.c.inputs=[\"b\"]"});
  CHECK(run.report.succeeded == 12);
  CHECK(run.report.requests == 2);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 12);
  for (const auto& r : out) CHECK(r.at("output").as_array().size() == 4);
}

TEST_CASE("call options are checked") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  auto r = compile_text(
      graph("", "endpoint = \"chatt\"\nprompt = \"{{text\"\nparse = \"yaml\"\nmax_tokens = 0\nresponse_format = 3"),
      dir);
  CHECK(!r.plan);
  const std::string all = r.diagnostics.str();
  CHECK(all.find("calls.c.endpoint: must be chat, embeddings or passthrough (did you mean \"chat\"?)") !=
        std::string::npos);
  CHECK(all.find("calls.c.prompt: unclosed \"{{\"") != std::string::npos);
  CHECK(all.find("calls.c.parse: must be text or json") != std::string::npos);
  CHECK(all.find("calls.c.max_tokens: must be at least 1") != std::string::npos);
  CHECK(all.find("calls.c.response_format: must be a table") != std::string::npos);
}

TEST_CASE("parse = json merges the answer's fields but never overwrites the item's own") {
  TempDir dir;
  dir.write("in.jsonl",
            "{\"id\": \"t1\", \"kind\": \"ticket\", \"text\": \"a\"}\n{\"id\": \"t2\", \"kind\": \"ticket\", \"text\": "
            "\"b\"}\n");

  SUBCASE("new fields are merged; a field repeated with the same value is fine") {
    auto run = run_text(
        graph(R"(replies = ['{"label": "billing", "kind": "ticket"}'])", "prompt = \"{{text}}\"\nparse = \"json\""),
        dir);
    const auto out = by_id(read_jsonl(dir / "out.jsonl"));
    REQUIRE(out.size() == 2);
    CHECK(out.at("t1").at("label").as_string() == "billing");
    CHECK(out.at("t1").at("kind").as_string() == "ticket");
    CHECK(out.at("t2").at("text").as_string() == "b");
  }
  SUBCASE("an answer that would overwrite the id fails the item, which keeps its id and input") {
    auto run = run_text(
        graph(R"(replies = ['{"id": "X", "label": "billing"}'])", "prompt = \"{{text}}\"\nparse = \"json\""), dir);
    CHECK(run.report.succeeded == 0);
    CHECK(run.report.dead == 2);
    const auto dead = read_jsonl(dir / "dead.jsonl");
    REQUIRE(dead.size() == 2);
    std::set<std::string> ids;
    for (const auto& d : dead) {
      ids.insert(std::string(d.at("id").as_string()));
      CHECK(d.at("input").at("id") == d.at("id"));
      CHECK(!d.at("input").as_object().contains("label"));
      CHECK(d.at("error").at("class").as_string() == "parse");
      const auto message = std::string(d.at("error").at("message").as_string());
      CHECK(message.find("the answer's field \"id\" (\"X\") would overwrite the item's own") != std::string::npos);
      CHECK(message.find("{\"id\":\"X\",\"label\":\"billing\"}") != std::string::npos);  // the paid answer is not lost
    }
    CHECK(ids == std::set<std::string>{"t1", "t2"});
  }
  SUBCASE("with output_field the answer is kept apart, whatever its keys") {
    run_text(graph(R"(replies = ['{"id": "X", "text": "other"}'])",
                   "prompt = \"{{text}}\"\nparse = \"json\"\noutput_field = \"answer\""),
             dir);
    const auto out = by_id(read_jsonl(dir / "out.jsonl"));
    REQUIRE(out.size() == 2);
    CHECK(out.at("t1").at("text").as_string() == "a");
    CHECK(out.at("t1").at("answer").at("id").as_string() == "X");
  }
}
