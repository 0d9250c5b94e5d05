// Calls in batch and auto mode against flowbatch-mock's batch APIs (OpenAI Batch, Anthropic
// Message Batches), over real HTTP: every item ends once, in a sink or the dead letter, with its
// own answer; a run killed at random moments and resumed submits no item in two batches; a job
// past its deadline, or expired, finishes online.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <boost/json/serialize.hpp>

#include <csignal>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "engine/core/hash.h"
#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;
using namespace std::chrono_literals;

namespace {

constexpr int kBatchItems = 1000;
constexpr int kBatchPromptChars = 2000;

/// kBatchItems records; every 50th is poisoned (a prompt longer than the mock accepts).
std::set<std::string> write_batch_input(const TempDir& dir) {
  std::string input;
  std::set<std::string> poisoned;
  for (int i = 1; i <= kBatchItems; ++i) {
    const bool poison = i % 50 == 0;
    const std::string text =
        poison ? fmt::format("{} {}", i, std::string(kBatchPromptChars + 100, 'p')) : fmt::format("question {}", i);
    input += fmt::format("{{\"id\": \"i{}\", \"text\": \"{}\"}}\n", i, text);
    if (poison) poisoned.insert(fmt::format("i{}", i));
  }
  dir.write("in.jsonl", input);
  return poisoned;
}

std::string batch_graph(const MockServer& mock, const std::string& type, const std::string& call_keys) {
  ChatGraph g;
  g.type = type;
  g.base_url = mock.base_url();
  g.system = "";
  g.call = call_keys;
  return g.toml();
}

std::string batch_mock_reply(const std::string& text) { return "mock reply " + hex16(stable_hash(text, 0)); }

struct Resumed {
  int kills = 0;
  ProcessResult last;  ///< the run that ended it
};

/// `run g.toml` in `dir` killed with SIGKILL at `attempts` random moments (each between `from` and
/// `to` after a start), then run with `resume` until it no longer stops resumably (75, at most 6 times).
Resumed kill_then_resume(const TempDir& dir, int attempts, unsigned seed, std::chrono::milliseconds from,
                         std::chrono::milliseconds to, const std::vector<std::string>& resume = {"run", "g.toml"}) {
  Resumed r;
  r.kills = kill_at_random_moments({"run", "g.toml"}, dir.path(), attempts, seed, from, to);
  r.last = run_flowbatch(resume, dir.path());
  for (int i = 0; i < 5 && r.last.exit_code == 75; ++i) r.last = run_flowbatch(resume, dir.path());
  return r;
}

/// Every input id exactly once across out.jsonl and dead.jsonl, each answer its own, the poisoned
/// ones (and only they) dead-lettered as invalid requests.
void check_batch_outputs(const TempDir& dir, const std::set<std::string>& poisoned) {
  const auto out = read_jsonl(dir / "out.jsonl");
  const auto dead = read_jsonl(dir / "dead.jsonl");
  auto ids = count_ids(out);
  for (const auto& [id, n] : count_ids(dead)) ids[id] += n;
  for (int i = 1; i <= kBatchItems; ++i) CHECK_MESSAGE(ids[fmt::format("i{}", i)] == 1, "i", i);
  CHECK(out.size() + dead.size() == kBatchItems);
  for (const auto& o : out)
    CHECK(o.at("output").as_string() == batch_mock_reply(std::string(o.at("text").as_string())));
  std::set<std::string> dead_ids;
  for (const auto& d : dead) {
    dead_ids.insert(std::string(d.at("id").as_string()));
    CHECK(d.at("error").at("class").as_string() == "invalid_request");
  }
  CHECK(dead_ids == poisoned);
}

/// The mock's count of batches each request (by content) was submitted in.
boost::json::object batches_per_request(const MockServer& mock) {
  return mock.stats().at("batch").at("per_request").as_object();
}

/// Runs the graph over the input to its end (done, with dead letters), checks the outputs, and
/// returns the run summary; `err` gets what the run printed.
boost::json::object run_batch_to_end(const MockServer& mock, const std::string& type, const std::string& call_keys,
                                     std::string* err = nullptr) {
  TempDir dir;
  const auto poisoned = write_batch_input(dir);
  dir.write("g.toml", batch_graph(mock, type, call_keys));
  const auto run = run_flowbatch({"run", "g.toml", "--summary-json", "s.json"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 3, run.err);
  check_batch_outputs(dir, poisoned);
  if (err) *err = run.err;
  return boost::json::parse(read_file(dir / "s.json")).as_object();
}

void run_whole_batch(const std::string& type) {
  MockServer mock({"--batch-seconds", "1", "--max-prompt-chars", std::to_string(kBatchPromptChars)});
  std::string err;
  const auto summary = run_batch_to_end(
      mock, type, "mode = \"batch\"\npoll_interval_ms = 100\nbatch_collect_ms = 200\nbatch_max_items = 400", &err);
  const auto counts = batches_per_request(mock);
  CHECK(counts.at("distinct").to_number<int>() == kBatchItems);
  CHECK(counts.at("max").to_number<int>() == 1);
  CHECK(mock.stats().at("by_route").as_object().if_contains("/v1/chat/completions") == nullptr);
  CHECK(mock.stats().at("by_route").as_object().if_contains("/v1/messages") == nullptr);
  CHECK(summary.at("batch").at("items").to_number<int>() == kBatchItems);
  CHECK(summary.at("batch").at("jobs").to_number<int>() >= 3);  // at most 400 a job
  CHECK(err.find("batch API: 1,000 items answered in batch jobs") != std::string::npos);
}

}  // namespace

TEST_CASE("batch mode, OpenAI Batch API: 1,000 items, poisoned ones dead-lettered, each item in one batch") {
  run_whole_batch("openai");
}

TEST_CASE("batch mode, Anthropic Message Batches: 1,000 items, poisoned ones dead-lettered, each item in one batch") {
  run_whole_batch("anthropic");
}

TEST_CASE("batch mode killed with SIGKILL during upload, create and polling, resumed: no item in two batches") {
  for (const std::string type : {"openai", "anthropic"}) {
    CAPTURE(type);
    // Every batch request takes ~150 ms: kills land between a create and its answer.
    MockServer mock({"--batch-seconds", "6", "--latency-ms", "150", "--latency-sigma", "0", "--max-prompt-chars",
                     std::to_string(kBatchPromptChars)});
    TempDir dir;
    const auto poisoned = write_batch_input(dir);
    dir.write("g.toml", batch_graph(mock, type,
                                    "mode = \"batch\"\npoll_interval_ms = 100\nbatch_collect_ms = 100\n"
                                    "batch_max_items = 150"));
    const unsigned seed = std::random_device{}();
    CAPTURE(seed);
    const auto [kills, last] = kill_then_resume(dir, 8, seed, 100ms, 1500ms);
    CHECK(kills >= 5);
    CHECK_MESSAGE(last.exit_code == 3, last.err);
    check_batch_outputs(dir, poisoned);
    const auto counts = batches_per_request(mock);
    MESSAGE("kills: ", kills, ", batches: ", mock.stats().at("batch").at("batches").to_number<int>());
    CHECK(counts.at("distinct").to_number<int>() == kBatchItems);
    CHECK(counts.at("max").to_number<int>() == 1);  // each item submitted in exactly one batch
  }
}

TEST_CASE("batch mode with packing, retries and SIGKILL: items packed otherwise on resume are never paid twice") {
  // A tenth of the batch lines meet a server error: their items are retried, packed with other
  // retried items into new lines. A run killed then reads them again from the input, where they
  // pack with their neighbours: those items must go back to the lines that hold them.
  constexpr int kItems = 300;
  MockServer mock({"--batch-seconds", "2", "--latency-ms", "40", "--latency-sigma", "0", "--error-rate", "0.1"});
  TempDir dir;
  std::string input;
  for (int i = 1; i <= kItems; ++i) input += fmt::format("{{\"id\": \"i{}\", \"text\": \"question {}\"}}\n", i, i);
  dir.write("in.jsonl", input);
  dir.write("g.toml", openai_chat_graph(mock.base_url(), "", "max_attempts = 10",
                                        "pack_max_items = 3\nmode = \"batch\"\npoll_interval_ms = 100\n"
                                        "batch_collect_ms = 100\nbatch_max_items = 5",
                                        "max_in_flight = 64"));
  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  const auto [kills, last] =
      kill_then_resume(dir, 8, seed, 300ms, 2000ms, {"run", "g.toml", "--summary-json", "s.json"});
  CHECK(kills >= 1);  // a run may also end on its own first
  CHECK_MESSAGE(last.exit_code == 0, last.err);
  const auto out = read_jsonl(dir / "out.jsonl");
  auto ids = count_ids(out);
  for (int i = 1; i <= kItems; ++i) CHECK_MESSAGE(ids[fmt::format("i{}", i)] == 1, "i", i);
  for (const auto& o : out)
    CHECK(o.at("output").as_string() == batch_mock_reply(std::string(o.at("text").as_string())));
  const auto per_input = mock.stats().at("batch").at("per_packed_input").as_object();
  MESSAGE("kills: ", kills, ", batches: ", mock.stats().at("batch").at("batches").to_number<int>(),
          ", items answered in more than one line: ", per_input.at("several").to_number<int>());
  CHECK(per_input.at("distinct").to_number<int>() == kItems);
  CHECK(per_input.at("max").to_number<int>() == 1);  // each item answered, and paid, once
}

namespace {

/// Embeddings of in.jsonl's texts in groups of 6 (a batch node), in `call_keys`' mode, retried.
std::string embeddings_graph(const MockServer& mock, const std::string& call_keys) {
  return fmt::format(R"(
[pipeline]
progress = "off"
max_in_flight = 64
[providers.p]
type = "openai"
base_url = "{}"
api_key_env = ""
[sources.in]
path = "in.jsonl"
id_field = "id"
[batches.b]
inputs = ["in"]
max_items = 6
[calls.c]
inputs = ["b", "r"]
provider = "p"
endpoint = "embeddings"
model = "emb"
prompt = "{{{{text}}}}"
{}
[retries.r]
inputs = ["c.error"]
initial_backoff_ms = 50
max_backoff_ms = 2000
max_attempts = 10
[dead_letters.dead]
inputs = ["r.exhausted", "in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     mock.base_url(), call_keys);
}

/// id -> its embedding, as out.jsonl has it.
std::map<std::string, std::string> embeddings_by_id(const TempDir& dir) {
  std::map<std::string, std::string> by_id;
  for (const auto& o : read_jsonl(dir / "out.jsonl"))
    by_id[std::string(o.at("id").as_string())] = boost::json::serialize(o.at("output"));
  return by_id;
}

}  // namespace

TEST_CASE("batch mode, embeddings with retries and SIGKILL: items grouped otherwise on resume are never paid twice") {
  // A line answers its inputs by position. A tenth of the lines meet a server error: their items
  // are retried in new groups. A run killed then reads them again in the input's groups of six:
  // each must go back to the line that holds it and take its own vector from that line's answer.
  constexpr int kItems = 300;
  std::string input;
  for (int i = 1; i <= kItems; ++i) input += fmt::format("{{\"id\": \"i{}\", \"text\": \"text {}\"}}\n", i, i);
  MockServer online_mock;
  TempDir online;
  online.write("in.jsonl", input);
  online.write("g.toml", embeddings_graph(online_mock, ""));
  const auto reference = run_flowbatch({"run", "g.toml"}, online.path());
  REQUIRE_MESSAGE(reference.exit_code == 0, reference.err);
  const auto expected = embeddings_by_id(online);
  REQUIRE(expected.size() == kItems);

  MockServer mock({"--batch-seconds", "2", "--latency-ms", "40", "--latency-sigma", "0", "--error-rate", "0.1"});
  TempDir dir;
  dir.write("in.jsonl", input);
  dir.write("g.toml", embeddings_graph(mock,
                                       "mode = \"batch\"\npoll_interval_ms = 100\nbatch_collect_ms = 100\n"
                                       "batch_max_items = 5"));
  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  const auto [kills, last] = kill_then_resume(dir, 8, seed, 300ms, 2000ms);
  CHECK(kills >= 1);  // a run may also end on its own first
  CHECK_MESSAGE(last.exit_code == 0, last.err);
  const auto ids = count_ids(read_jsonl(dir / "out.jsonl"));
  for (int i = 1; i <= kItems; ++i) CHECK_MESSAGE(ids.count(fmt::format("i{}", i)) == 1, "i", i);
  for (const auto& [id, vector] : embeddings_by_id(dir)) CHECK_MESSAGE(vector == expected.at(id), id);
  const auto per_input = mock.stats().at("batch").at("per_packed_input").as_object();
  MESSAGE("kills: ", kills, ", batches: ", mock.stats().at("batch").at("batches").to_number<int>(),
          ", inputs answered in more than one line: ", per_input.at("several").to_number<int>());
  CHECK(per_input.at("distinct").to_number<int>() == kItems);
  CHECK(per_input.at("max").to_number<int>() == 1);  // each input answered, and paid, once
}

TEST_CASE("batch mode under a cost cap: new lines hold their worst case at the batch price, none past the cap") {
  MockServer mock({"--batch-seconds", "1"});
  TempDir dir;
  std::string input;
  for (int i = 1; i <= 100; ++i) input += fmt::format("{{\"id\": \"i{}\", \"text\": \"question {}\"}}\n", i, i);
  dir.write("in.jsonl", input);
  ChatGraph g;
  g.base_url = mock.base_url();
  // A tenth of a cent a token in, a fifth out: a line's worst case is about $0.31, $0.155 at half price.
  g.provider += "\nprices = { \"m\" = { input = 1000, output = 2000 } }";
  g.call = "max_tokens = 150\nmode = \"batch\"\npoll_interval_ms = 100\nbatch_collect_ms = 100";
  dir.write("g.toml", g.toml());
  const auto capped = run_flowbatch({"run", "g.toml", "--max-cost", "5"}, dir.path());
  CHECK(capped.exit_code == 75);
  CHECK(capped.err.find("the cost cap") != std::string::npos);
  const auto submitted = mock.stats().at("batch").at("lines").to_number<int>();
  CHECK(submitted > 0);
  CHECK(submitted <= 33);  // $5 / $0.155: at full price it would be 16 at most, at none all 100
  const auto finished = run_flowbatch({"run", "g.toml", "--max-cost", "1000"}, dir.path());
  CHECK_MESSAGE(finished.exit_code == 0, finished.err);
  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(out.size() == 100);
  CHECK(count_ids(out).size() == 100);
  CHECK(batches_per_request(mock).at("max").to_number<int>() == 1);  // nothing submitted twice
}

TEST_CASE("batch mode outside the run window: no job is created, and with window_exit the run stops resumably") {
  MockServer mock({"--batch-seconds", "1"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(20));
  const auto in = [](std::chrono::hours h) {
    const auto t = std::chrono::system_clock::now() + h;
    const auto sec = std::chrono::duration_cast<std::chrono::seconds>(t - std::chrono::floor<std::chrono::days>(t));
    return fmt::format("{:02}:{:02}", sec.count() / 3600, sec.count() / 60 % 60);
  };
  ChatGraph g;
  g.base_url = mock.base_url();
  g.pipeline = fmt::format("window = \"{}-{} UTC\"\nwindow_exit = true", in(2h), in(3h));
  g.call = "mode = \"batch\"\npoll_interval_ms = 100\nbatch_collect_ms = 100";
  dir.write("g.toml", g.toml());
  const auto run = run_flowbatch({"run", "g.toml"}, dir.path());
  CHECK(run.exit_code == 75);
  CHECK(run.err.find("outside the run window") != std::string::npos);
  CHECK(mock.stats().at("batch").at("batches").to_number<int>() == 0);
  CHECK(mock.stats().at("batch").at("lines").to_number<int>() == 0);
}

TEST_CASE("auto mode: a job past batch_deadline is cancelled and its items finish online, each once") {
  MockServer mock({"--batch-seconds", "60", "--max-prompt-chars", std::to_string(kBatchPromptChars)});
  const auto summary = run_batch_to_end(mock, "openai",
                                        "mode = \"auto\"\nbatch_deadline = \"1s\"\nbatch_min_items = 10\n"
                                        "poll_interval_ms = 100\nbatch_collect_ms = 200");
  CHECK(mock.stats().at("batch").at("cancelled").to_number<int>() >= 1);
  CHECK(summary.at("batch").at("online_items").to_number<int>() == kBatchItems);
  CHECK(summary.at("batch").at("items").to_number<int>() == 0);
}

TEST_CASE("auto mode: an expired batch's items finish online, and a small job goes online at once") {
  MockServer mock({"--batch-seconds", "60", "--batch-expire-seconds", "1", "--max-prompt-chars",
                   std::to_string(kBatchPromptChars)});
  const auto summary = run_batch_to_end(
      mock, "anthropic", "mode = \"auto\"\nbatch_min_items = 10\npoll_interval_ms = 100\nbatch_collect_ms = 200");
  CHECK(summary.at("batch").at("online_items").to_number<int>() == kBatchItems);

  // Fewer requests than batch_min_items: no job at all.
  TempDir small;
  small.write("in.jsonl", make_jsonl(5));
  small.write("g.toml", batch_graph(mock, "openai", "mode = \"auto\"\nbatch_min_items = 10\nbatch_collect_ms = 50"));
  const int batches_before = mock.stats().at("batch").at("batches").to_number<int>();
  const auto small_run = run_flowbatch({"run", "g.toml"}, small.path());
  CHECK_MESSAGE(small_run.exit_code == 0, small_run.err);
  CHECK(read_jsonl(small / "out.jsonl").size() == 5);
  CHECK(mock.stats().at("batch").at("batches").to_number<int>() == batches_before);
}

namespace {

constexpr int kQueueItems = 300;
constexpr int kQueueLineTokens = 50;  // a 200-character prompt, no system prompt
constexpr int kQueueJobTokens = 50 * kQueueLineTokens;

/// kQueueItems records whose prompts are kQueueLineTokens tokens each (at four characters a token).
void write_queue_input(const TempDir& dir) {
  std::string input;
  for (int i = 1; i <= kQueueItems; ++i) {
    std::string text = fmt::format("question {} ", i);
    text.resize(static_cast<std::size_t>(4 * kQueueLineTokens), 'x');
    input += fmt::format("{{\"id\": \"i{}\", \"text\": \"{}\"}}\n", i, text);
  }
  dir.write("in.jsonl", input);
}

/// Runs a batch call (OpenAI's unless `type` says otherwise) over write_queue_input() to its end;
/// `provider` adds lines to the provider. Checks every id once, each answer its own, each request
/// in exactly one batch.
std::string run_queue_to_end(const MockServer& mock, const std::string& provider, const std::string& call_keys,
                             const std::string& type = "openai") {
  TempDir dir;
  write_queue_input(dir);
  ChatGraph g;
  g.type = type;
  g.base_url = mock.base_url();
  g.system = "";
  g.provider += provider;
  g.call = "mode = \"batch\"\npoll_interval_ms = 100\nbatch_collect_ms = 200\n" + call_keys;
  dir.write("g.toml", g.toml());
  const auto run = run_flowbatch({"run", "g.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  const auto out = read_jsonl(dir / "out.jsonl");
  const auto ids = count_ids(out);
  CHECK(out.size() == kQueueItems);
  for (int i = 1; i <= kQueueItems; ++i) CHECK_MESSAGE(ids.count(fmt::format("i{}", i)) == 1, "i", i);
  for (const auto& o : out)
    CHECK(o.at("output").as_string() == batch_mock_reply(std::string(o.at("text").as_string())));
  const auto counts = batches_per_request(mock);
  CHECK(counts.at("distinct").to_number<int>() == kQueueItems);
  CHECK(counts.at("max").to_number<int>() == 1);  // each request submitted in exactly one batch
  return run.err;
}

std::int64_t mock_batch_stat(const MockServer& mock, const char* name) {
  return mock.stats().at("batch").at(name).to_number<std::int64_t>();
}

}  // namespace

TEST_CASE("batch mode under an enqueued-token limit: jobs wait for room, never past it, never refused") {
  // Six jobs of 2,500 tokens; the queue holds three at once.
  constexpr int kLimit = 3 * kQueueJobTokens;
  MockServer mock({"--batch-seconds", "2", "--batch-enqueued-tokens", std::to_string(kLimit)});
  const std::string err =
      run_queue_to_end(mock, fmt::format("\nbatch_enqueued_tokens = {{ \"m\" = {} }}", kLimit), "batch_max_items = 50");
  CHECK(mock_batch_stat(mock, "queue_full") == 0);
  CHECK(mock_batch_stat(mock, "batches") == kQueueItems / 50);
  const auto peak = mock_batch_stat(mock, "enqueued_tokens_peak");
  MESSAGE("peak enqueued tokens: ", peak, " of ", kLimit);
  CHECK(peak <= kLimit);
  CHECK(peak > 2 * kQueueJobTokens);  // the room was used: three jobs at once
  CHECK(err.find("wait for room in the batch queue of m") != std::string::npos);
  CHECK(err.find("batch API: jobs waited for room in the provider's batch queue") != std::string::npos);
  CHECK(err.find("the provider refused 0 for it") != std::string::npos);
}

TEST_CASE("batch mode under an enqueued-token limit: a job is cut to fit it") {
  // No batch_max_items: the limit alone (fifty lines' worth) cuts the jobs, one at a time.
  MockServer mock({"--batch-seconds", "1", "--batch-enqueued-tokens", std::to_string(kQueueJobTokens)});
  run_queue_to_end(mock, fmt::format("\nbatch_enqueued_tokens = {{ \"*\" = {} }}", kQueueJobTokens), "");
  CHECK(mock_batch_stat(mock, "queue_full") == 0);
  CHECK(mock_batch_stat(mock, "batches") == kQueueItems / 50);
  CHECK(mock_batch_stat(mock, "enqueued_tokens_peak") == kQueueJobTokens);
}

TEST_CASE("batch mode: the provider refuses jobs for its token queue, they wait and every id finishes once") {
  // The organisation's queue holds two jobs; the graph plans for three (others use the queue), or
  // does not know of the limit at all.
  constexpr int kMockLimit = 2 * kQueueJobTokens;
  for (const std::string& provider :
       {std::string(), fmt::format("\nbatch_enqueued_tokens = {{ \"m\" = {} }}", 3 * kQueueJobTokens)}) {
    CAPTURE(provider);
    MockServer mock({"--batch-seconds", "2", "--batch-enqueued-tokens", std::to_string(kMockLimit)});
    const std::string err = run_queue_to_end(mock, provider, "batch_max_items = 50");
    CHECK(mock_batch_stat(mock, "queue_full") >= 1);
    CHECK(mock_batch_stat(mock, "enqueued_tokens_peak") <= kMockLimit);
    CHECK(mock.stats().at("batch").at("lines").to_number<int>() == kQueueItems);  // refused batches ran nothing
    // Said once, clearly, whatever the number of refusals.
    const std::string said = "the provider's batch queue for m is full";
    CHECK(err.find(said) != std::string::npos);
    CHECK(err.find(said, err.find(said) + 1) == std::string::npos);
    // The summary counts every refusal the provider made.
    CHECK(err.find(fmt::format("the provider refused {} for it", mock_batch_stat(mock, "queue_full"))) !=
          std::string::npos);
  }
}

TEST_CASE("batch mode, Anthropic's processing-queue limit: refused creates wait for room, every id once") {
  // Jobs of 50 requests; the mock's processing queue holds two at once and refuses a third's
  // create with 429 rate_limit_error, as Anthropic does. The refused jobs wait (for a job to end,
  // or a back-off that grows), are counted, and the run says why once.
  MockServer mock({"--batch-seconds", "2", "--batch-processing-requests", "100"});
  const std::string err = run_queue_to_end(mock, "", "batch_max_items = 50", "anthropic");
  const auto refused = mock_batch_stat(mock, "queue_full");
  MESSAGE("creates refused: ", refused);
  CHECK(refused >= 1);
  CHECK(mock_batch_stat(mock, "batches") == kQueueItems / 50);  // a refused create made no batch
  const std::string said = "the provider refused to create it for now (HTTP 429: Number of batch requests";
  CHECK(err.find(said) != std::string::npos);
  CHECK(err.find(said, err.find(said) + 1) == std::string::npos);
  CHECK(err.find(fmt::format("the provider refused {} for it", refused)) != std::string::npos);
}

TEST_CASE(
    "batch mode under an enqueued-token limit, killed with SIGKILL while jobs are parked: no item in two batches") {
  // The graph plans for three jobs at once, the organisation's queue holds two: at any moment
  // some jobs are parked and some refused. Each kill lands among creates, refusals and polls.
  MockServer mock({"--batch-seconds", "2", "--latency-ms", "100", "--latency-sigma", "0", "--batch-enqueued-tokens",
                   std::to_string(2 * kQueueJobTokens)});
  TempDir dir;
  write_queue_input(dir);
  ChatGraph g;
  g.base_url = mock.base_url();
  g.system = "";
  g.provider += fmt::format("\nbatch_enqueued_tokens = {{ \"m\" = {} }}", 3 * kQueueJobTokens);
  g.call = "mode = \"batch\"\npoll_interval_ms = 100\nbatch_collect_ms = 100\nbatch_max_items = 50";
  dir.write("g.toml", g.toml());
  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  const auto [kills, last] = kill_then_resume(dir, 6, seed, 200ms, 1500ms);
  CHECK(kills >= 3);
  CHECK_MESSAGE(last.exit_code == 0, last.err);
  if (std::filesystem::exists(dir / "dead.jsonl"))
    CHECK_MESSAGE(read_file(dir / "dead.jsonl").empty(), read_file(dir / "dead.jsonl").substr(0, 3000));
  const auto ids = count_ids(read_jsonl(dir / "out.jsonl"));
  for (int i = 1; i <= kQueueItems; ++i) CHECK_MESSAGE(ids.count(fmt::format("i{}", i)) == 1, "i", i);
  const auto counts = batches_per_request(mock);
  MESSAGE("kills: ", kills, ", batches: ", mock_batch_stat(mock, "batches"),
          ", refused for the queue: ", mock_batch_stat(mock, "queue_full"));
  CHECK(counts.at("distinct").to_number<int>() == kQueueItems);
  CHECK(counts.at("max").to_number<int>() == 1);
  CHECK(mock_batch_stat(mock, "enqueued_tokens_peak") <= 2 * kQueueJobTokens);
}
