// The conformance test every node kind and every registered type runs through. The cases are
// made from the registry: each source, sink, transform and provider type, and each kind that is
// not one of those roles (with its required keys filled in from its KeySpecs and every output port
// routed to a sink or a dead letter), so a new kind or type gets the same checks without a line
// here; a new source or provider type needs only a sample below, and fails here until it has one.
// The checks, on a real in-process run with a state:
//   - exactly once: every input record ends once, ok or failed (dead letter); none unfinished;
//     every item a terminal node counted is in its file once;
//   - error ports: what reaches a dead letter carries its error class;
//   - resume: a second run of the same graph finds every record complete and does nothing again;
//   - drain: a run given Ctrl-C early drains, and a resumed run does the rest, every record once
//     across the two (where a run ends before the signal lands, this is the resume check again).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <thread>

#include "nodes/builtin.h"
#include "tests/nodes/merge_kind.h"
#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"
#include "tests/support/postgres.h"
#include "tests/support/redis.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

constexpr std::size_t kRecords = 30;  // plus one line no source type can read

TypeRegistry& registry() {
  static TypeRegistry* r = [] {
    auto* reg = new TypeRegistry();
    register_builtin(*reg);
    reg->add_kind(merge_kind());  // a kind written for the tests gets the checks too
    return reg;
  }();
  return *r;
}

/// A source type's input: kRecords records ids "i1".. with a "text" field, and one broken record.
const std::map<std::string, std::function<std::string()>>& source_samples() {
  static const std::map<std::string, std::function<std::string()>> samples = {
      {"jsonl", [] { return make_jsonl(kRecords) + "{not json\n"; }},
      {"csv",
       [] {
         std::string out = "id,text\n";
         for (std::size_t i = 1; i <= kRecords; ++i) out += fmt::format("i{},item {}\n", i, i);
         return out + "\"unterminated,quote\n";
       }},
      {"openai_batch",
       [] {
         std::string out;
         for (std::size_t i = 1; i <= kRecords; ++i)
           out += fmt::format(R"({{"custom_id":"i{}","method":"POST","url":"/v1/chat/completions",)"
                              R"("body":{{"model":"m","messages":[{{"role":"user","content":"item {}"}}]}}}})",
                              i, i) +
                  "\n";
         return out + "{\"custom_id\":\"bad\"}\n";
       }},
  };
  return samples;
}

/// Types that need a Redis server or a PostgreSQL server: each started once for the conformance
/// test when installed.
bool needs_redis(const std::string& type) { return type.starts_with("redis_"); }
bool needs_postgres(const std::string& type) { return type.starts_with("postgres"); }

/// The servers the queue types need (null where not installed).
struct Servers {
  RedisProcess* redis = nullptr;
  PostgresProcess* postgres = nullptr;
  bool has_for(const std::string& type) const {
    return (!needs_redis(type) || redis) && (!needs_postgres(type) || postgres);
  }
};

/// A queue source's sample: the same records as entries of a new stream (one per graph, so a
/// resumed run reads the stream its first run left), and how the graph reads it.
struct QueueSample {
  std::string source;
  std::function<void()> fill;
};

QueueSample redis_stream_sample(RedisProcess& redis) {
  static int streams = 0;
  const std::string stream = fmt::format("conformance{}", ++streams);
  QueueSample q;
  q.source = fmt::format(
      "[sources.in]\ntype = \"redis_stream\"\nurl = \"{}\"\nstream = \"{}\"\nid_field = \"id\"\n"
      "json_field = \"item\"\nuntil_empty = true\nclaim_idle_ms = 50\nconsumer = \"conformance\"\n",
      redis.url(), stream);
  q.fill = [&redis, stream] {
    for (std::size_t i = 1; i <= kRecords; ++i)
      redis.command({"XADD", stream, "*", "item", fmt::format(R"({{"id":"i{}","text":"item {}"}})", i, i)});
    redis.command({"XADD", stream, "*", "item", "{not json"});
  };
  return q;
}

QueueSample postgres_queue_sample(PostgresProcess& pg) {
  static int tables = 0;
  const std::string table = fmt::format("conformance{}", ++tables);
  QueueSample q;
  q.source = fmt::format(
      "[sources.in]\ntype = \"postgres_queue\"\nconnection = \"{}\"\ntable = \"{}\"\njson_column = \"text\"\n"
      "until_empty = true\nlease_ms = 50\n",
      pg.url(), table);
  q.fill = [&pg, table] {
    pg.make_queue(table, static_cast<int>(kRecords));
    // The items as JSON in the text column, and one that is not JSON.
    pg.exec(fmt::format(R"(UPDATE {} SET text = json_build_object('id', id, 'text', text)::text)", table));
    pg.exec(fmt::format("INSERT INTO {} (id, text) VALUES ('broken', '{{not json')", table));
  };
  return q;
}

QueueSample queue_sample(const std::string& type, const Servers& servers) {
  return needs_redis(type) ? redis_stream_sample(*servers.redis) : postgres_queue_sample(*servers.postgres);
}

/// A sink type's keys, where they are not a file's path.
std::string server_sink_keys(const std::string& type, const Servers& servers) {
  static int keys = 0;
  if (needs_postgres(type))
    return fmt::format("connection = \"{}\"\ntable = \"conformance_out{}\"\n", servers.postgres->url(), ++keys);
  return fmt::format("url = \"{}\"\n{} = \"conformance-out{}\"\n", servers.redis->url(),
                     type == "redis_hash" ? "key" : "stream", ++keys);
}

/// A provider type's [providers.p] keys, against the mock server where it speaks HTTP. The mock
/// provider fails some requests, so the call's error port carries items too.
std::optional<std::string> provider_sample(const std::string& type, const MockServer& server) {
  if (type == "mock") return "failure_rate = 0.2\nlatency_ms = 1\n";
  if (type == "openai" || type == "anthropic")
    return fmt::format("base_url = \"{}\"\napi_key_env = \"\"\n", server.base_url());
  if (type == "http")
    return fmt::format(
        "url = \"{}/chat/completions\"\nbody = {{ model = \"m\", messages = [{{ role = \"user\", "
        "content = \"{{{{text}}}}\" }}] }}\nresult_pointer = \"/choices/0/message/content\"\n",
        server.base_url());
  return std::nullopt;
}

/// One graph: a jsonl source "in" (unless the case brings its own source), the nodes of the case,
/// and [providers.p] (mock, unless the case brings its own).
struct Case {
  std::string name;
  std::string source = "[sources.in]\npath = \"in.jsonl\"\nid_field = \"id\"\n";
  std::string input = make_jsonl(kRecords) + "{not json\n";
  std::string provider = "[providers.p]\ntype = \"mock\"\nfailure_rate = 0.2\nlatency_ms = 1\n";
  std::string nodes;  ///< must route "in.invalid" and everything else to terminal nodes
  /// A queue source: fills the queue instead of `input`; a resumed run finds it empty (what was
  /// done was acknowledged) rather than skipping records the state knows.
  std::function<void()> fill_queue;
};

/// The keys a generated node needs: every required key of `keys` given a value of its kind.
std::string required_keys(const std::vector<KeySpec>& keys, const std::string& node) {
  std::string out;
  for (const KeySpec& k : keys) {
    if (!k.required) continue;
    if (k.name == "provider") out += "provider = \"p\"\n";
    else if (k.kind == KeyKind::path) out += fmt::format("{} = \"{}.{}\"\n", k.name, node, k.name);
    else FAIL_CHECK("the conformance test cannot fill required key \"" << k.name << "\" of " << node);
  }
  return out;
}

/// A node of `kind` fed by `input`, with every output port wired to its own terminal node.
std::string node_with_outputs(const NodeKind& kind, const std::string& name, const std::string& input,
                              const std::string& extra_keys) {
  std::string out = fmt::format("[{}.{}]\ninputs = [\"{}\"]\n{}{}", kind.table, name, input,
                                required_keys(kind.keys, name), extra_keys);
  for (const PortSpec& port : kind.outputs) {
    const std::string from = port.name.empty() ? name : name + "." + port.name;
    const std::string to = fmt::format("{}_{}", name, port.name.empty() ? "out" : port.name);
    if (port.kind == PortKind::items)
      out += fmt::format("[sinks.{}]\ninputs = [\"{}\"]\npath = \"{}.jsonl\"\n", to, from, to);
    else out += fmt::format("[dead_letters.{}]\ninputs = [\"{}\"]\npath = \"{}.jsonl\"\n", to, from, to);
  }
  return out;
}

constexpr const char* kInvalidToDead = "[dead_letters.bad]\ninputs = [\"in.invalid\"]\npath = \"bad.jsonl\"\n";

std::vector<Case> cases(const MockServer& server, const Servers& servers, std::size_t& skipped) {
  const TypeRegistry& reg = registry();
  std::vector<Case> out;
  const auto sink_of = [](const std::string& input) {
    return fmt::format("[sinks.out]\ninputs = [\"{}\"]\npath = \"out.jsonl\"\n", input);
  };
  for (const auto& [type, entry] : reg.sources()) {
    Case c;
    c.name = "source type " + type;
    if (needs_redis(type) || needs_postgres(type)) {
      if (!servers.has_for(type)) {
        ++skipped;
        continue;
      }
      QueueSample q = queue_sample(type, servers);
      c.source = q.source;
      c.fill_queue = q.fill;
      c.nodes = sink_of("in") + kInvalidToDead;
      out.push_back(std::move(c));
      continue;
    }
    const auto sample = source_samples().find(type);
    if (sample == source_samples().end()) {
      FAIL_CHECK("source type \"" << type << "\" has no sample input in the conformance test");
      continue;
    }
    c.source = fmt::format("[sources.in]\ntype = \"{}\"\npath = \"in.data\"\n", type);
    c.input = sample->second();
    c.nodes = sink_of("in") + kInvalidToDead;
    out.push_back(std::move(c));
  }
  for (const auto& [type, entry] : reg.sinks()) {
    Case c;
    c.name = "sink type " + type;
    if (!servers.has_for(type)) {
      ++skipped;
      continue;
    }
    const std::string keys = needs_redis(type) || needs_postgres(type) ? server_sink_keys(type, servers)
                                                                       : required_keys(entry.type.keys, "out");
    c.nodes = fmt::format("[sinks.out]\ninputs = [\"in\"]\ntype = \"{}\"\n{}{}", type, keys, kInvalidToDead);
    out.push_back(std::move(c));
  }
  for (const auto& [type, entry] : reg.transforms()) {
    Case c;
    c.name = "transform type " + type;
    c.nodes = node_with_outputs(*reg.kind_for_table("transforms"), "t", "in", fmt::format("type = \"{}\"\n", type)) +
              kInvalidToDead;
    out.push_back(std::move(c));
  }
  for (const auto& [type, entry] : reg.providers()) {
    Case c;
    c.name = "provider type " + type;
    const auto keys = provider_sample(type, server);
    if (!keys) {
      FAIL_CHECK("provider type \"" << type << "\" has no sample [providers] table in the conformance test");
      continue;
    }
    c.provider = fmt::format("[providers.p]\ntype = \"{}\"\n{}", type, *keys);
    c.nodes = node_with_outputs(*reg.kind_for_table("calls"), "c", "in", "prompt = \"{{text}}\"\n") + kInvalidToDead;
    out.push_back(std::move(c));
  }
  // Every other kind, in its place: fed items, or the failures of a call when it takes only those.
  for (const NodeKind& kind : reg.kinds()) {
    if (kind.family != TypeFamily::none || kind.terminal || kind.accepts.empty() || kind.table == "calls") continue;
    Case c;
    c.name = "kind [" + kind.table + "]";
    if (kind.accepts_kind(PortKind::items)) {
      c.nodes = node_with_outputs(kind, "k", "in", "");
    } else {
      c.nodes = "[calls.c]\ninputs = [\"in\"]\nprovider = \"p\"\nprompt = \"{{text}}\"\n" + sink_of("c") +
                node_with_outputs(kind, "k", "c.error", "");
    }
    c.nodes += kInvalidToDead;
    out.push_back(std::move(c));
  }
  return out;
}

std::uint64_t json_count(const boost::json::object& report, const char* group, const char* key) {
  return report.at(group).as_object().at(key).to_number<std::uint64_t>();
}

/// Lines of a JSONL output, or nothing when the node writes another format.
std::optional<std::size_t> jsonl_lines(const std::filesystem::path& path) {
  if (path.extension() != ".jsonl") return std::nullopt;
  if (!std::filesystem::exists(path)) return 0;
  return read_jsonl(path).size();
}

std::string graph_of(const Case& c, const TempDir& dir) {
  if (c.fill_queue) c.fill_queue();
  dir.write(c.source.find("in.data") != std::string::npos ? "in.data" : "in.jsonl", c.input);
  return "[pipeline]\nmax_in_flight = 16\n" + c.provider + c.source + c.nodes;
}

std::uint64_t records_done(const boost::json::object& report) {
  return json_count(report, "records", "ok") + json_count(report, "records", "failed");
}

/// The items each terminal node ended, by destination.
std::map<std::string, std::uint64_t> ended_by_destination(const boost::json::object& report) {
  std::map<std::string, std::uint64_t> out;
  for (const auto& n : report.at("nodes").as_array())
    if (n.as_object().contains("destination"))
      out[std::string(n.at("destination").as_string())] = n.at("ended").to_number<std::uint64_t>();
  return out;
}

void check_case(const Case& c) {
  TempDir dir;
  const std::string graph = graph_of(c, dir);
  const InProcessRun run = run_text(graph, dir, {}, &registry());
  if (!run.compiled.plan) {
    FAIL_CHECK("the generated graph does not compile:\n" << graph);
    return;
  }
  const auto& report = run.report.json;

  // Exactly once: every record ended, once; nothing is left over.
  CHECK_MESSAGE((run.report.exit_code == 0 || run.report.exit_code == 3),
                run.console << boost::json::serialize(report));
  CHECK(report.at("status").as_string() == "finished");
  CHECK(records_done(report) == kRecords + 1);
  CHECK(json_count(report, "records", "failed") >= 1);  // the broken record, in its dead letter
  CHECK(json_count(report, "items", "unfinished") == 0);

  // Every item a terminal node ended is in its file once; dead letters say why.
  std::uint64_t ended_at_terminals = 0;
  for (const auto& [destination, ended] : ended_by_destination(report)) {
    ended_at_terminals += ended;
    const std::filesystem::path file = dir / destination;
    if (const auto lines = jsonl_lines(file)) CHECK_MESSAGE(*lines == ended, file.string());
  }
  for (const auto& n : report.at("nodes").as_array()) {
    const auto& node = n.as_object();
    if (node.at("kind").as_string() != "dead letter" || !node.contains("destination")) continue;
    const std::filesystem::path file = dir / std::string(node.at("destination").as_string());
    if (std::filesystem::is_regular_file(file))
      for (const auto& record : read_jsonl(file)) CHECK(record.at("error").as_object().contains("class"));
  }
  CHECK(ended_at_terminals == run.report.succeeded + run.report.dead);
  CHECK(run.report.succeeded + run.report.dead + run.report.discarded >= 1);

  // Resumed: every record is complete in the state, nothing is done or written again.
  const InProcessRun again = resume_text(graph, dir, {}, &registry());
  CHECK(json_count(again.report.json, "records", "skipped") == (c.fill_queue ? 0 : kRecords + 1));
  CHECK(again.report.succeeded + again.report.dead == 0);
}

/// Ctrl-C 20 ms into a run, then a resumed run.
void check_drain(const Case& c) {
  TempDir dir;
  const std::string graph = graph_of(c, dir);
  CompileResult compiled = compile_text(graph, dir, {"pipeline.progress=off"}, &registry());
  REQUIRE(compiled.plan);
  // A Ctrl-C that lands after the run has put the previous handler back is ignored, not fatal.
  const auto previous = std::signal(SIGINT, SIG_IGN);
  RunReport first;
  {
    Redactor redactor;
    std::FILE* log = std::tmpfile();
    Console console(redactor, log);
    RunOptions options;
    options.fresh = true;
    options.handle_signals = true;
    std::thread interrupt([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ::kill(::getpid(), SIGINT);
    });
    first = run_plan(*compiled.plan, console, redactor, options);
    interrupt.join();
    std::fclose(log);
  }
  std::signal(SIGINT, previous);
  CHECK((first.status == RunStatus::interrupted || first.status == RunStatus::finished));

  const InProcessRun second = resume_text(graph, dir, {}, &registry());
  CHECK(second.report.status == RunStatus::finished);
  // What the first run finished, the second skips; what it left, the second does; once in all.
  if (!c.fill_queue) CHECK(json_count(second.report.json, "records", "skipped") == records_done(first.json));
  CHECK(records_done(first.json) + records_done(second.report.json) == kRecords + 1);
  const auto before = ended_by_destination(first.json);
  for (const auto& [destination, ended] : ended_by_destination(second.report.json)) {
    const auto earlier = before.find(destination);
    const std::uint64_t total = ended + (earlier == before.end() ? 0 : earlier->second);
    if (const auto lines = jsonl_lines(dir / destination)) CHECK_MESSAGE(*lines == total, destination);
  }
}

/// The servers of the queue types, started where installed (the types are skipped, said once, where not).
struct QueueServers {
  TempDir redis_dir;
  std::optional<RedisProcess> redis;
  std::optional<PostgresProcess> postgres;
  QueueServers() {
    if (!RedisProcess::program().empty()) redis.emplace(redis_dir);
    else MESSAGE("the Redis types are skipped: redis-server is not installed (make deps installs it)");
    if (!PostgresProcess::bin_dir().empty()) postgres.emplace();
    else MESSAGE("the PostgreSQL types are skipped: PostgreSQL is not installed (make deps installs it)");
  }
  Servers servers() { return Servers{redis ? &*redis : nullptr, postgres ? &*postgres : nullptr}; }
};

}  // namespace

TEST_CASE("conformance: every registered kind and type keeps exactly-once books, routes errors and resumes") {
  MockServer server;
  QueueServers queues;
  std::size_t skipped = 0;
  const std::vector<Case> all = cases(server, queues.servers(), skipped);
  // What the registry holds is what is checked: nothing is left out silently.
  const TypeRegistry& reg = registry();
  std::size_t expected = reg.sources().size() + reg.sinks().size() + reg.transforms().size() + reg.providers().size();
  for (const NodeKind& kind : reg.kinds())
    if (kind.family == TypeFamily::none && !kind.terminal && !kind.accepts.empty() && kind.table != "calls") ++expected;
  CHECK(all.size() + skipped == expected);
  for (const Case& c : all) {
    INFO(c.name);
    check_case(c);
  }
}

TEST_CASE("conformance: every registered kind and type drains on Ctrl-C and a resumed run does the rest") {
  MockServer server;
  QueueServers queues;
  std::size_t skipped = 0;
  for (const Case& c : cases(server, queues.servers(), skipped)) {
    INFO(c.name);
    check_drain(c);
  }
}
