// [calls.NAME]: turns items into requests to a provider (one per item; a whole batch for
// embeddings), sends them through the provider's shared lane (concurrency-limited) and puts each
// answer on its item. Successes leave on the default port, failures on `NAME.error`, each with
// its error class; one item's failure never touches the others.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include <atomic>
#include <mutex>

#include "engine/core/exceptions.h"
#include "engine/core/hash.h"
#include "engine/core/template.h"
#include "engine/core/text.h"
#include "engine/runtime/build_context.h"
#include "engine/runtime/node_runtime.h"
#include "engine/runtime/provider_lane.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

struct CallConfig final : NodeConfig {
  std::size_t provider = 0;
  std::string provider_name;
  Endpoint endpoint = Endpoint::chat;
  std::string model;
  std::string system;
  Template prompt;
  std::string output_field;
  bool output_field_given = false;
  std::optional<double> temperature;
  std::optional<std::int64_t> max_tokens;
  bool parse_json = false;
  boost::json::value response_format;
  std::string finish_reason_field;
  bool cache = false;

  Location prompt_where;

  std::string label() const override {
    std::string s = fmt::format("provider={} endpoint={}", provider_name, to_string(endpoint));
    if (!model.empty()) s += "\nmodel=" + model;
    return s;
  }
  std::vector<FieldRead> fields_read() const override {
    std::vector<FieldRead> out;
    for (auto& field : prompt.fields()) out.push_back(FieldRead{std::move(field), "prompt", prompt_where});
    return out;
  }
  std::optional<std::vector<std::string>> fields_added() const override {
    if (parse_json && !output_field_given) return std::nullopt;  // the answer's own fields are merged in
    std::vector<std::string> added = {output_field};
    if (!finish_reason_field.empty()) added.push_back(finish_reason_field);
    return added;
  }
};

Failure failure_of(ErrorClass c, std::string message) { return Failure{c, std::move(message), 0, {}, {}, -1}; }

struct CallExchange final : Exchange {
  std::string cache_key;  ///< set when the answer may come from (or go to) the cache
};

/// The cache key of an exact request: which provider, where, what (never the headers: the key).
std::string cache_key(const std::string& provider, const HttpRequest& r) {
  const std::string what = provider + '\n' + r.method + '\n' + r.url + '\n';
  const std::uint64_t a = stable_hash(r.body, stable_hash(what, 1));
  const std::uint64_t b = stable_hash(r.body, stable_hash(what, 2));
  return hex16(a) + hex16(b);
}

/// What the cache keeps of an answer: its status and body, redacted (a server may echo the key,
/// and the state file outlives the run). Never the headers: they may carry cookies or tokens,
/// and what they tell (rate limits, request ids) is about the request that was sent, not this one.
std::string encode_response(const HttpResponse& r, const Redactor& redactor) {
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(r.body, ec);
  std::string text;
  if (ec) {
    text = redactor.redact(r.body);
  } else {  // parsed, so that a key written with JSON escapes is found too
    redactor.redact_json(body);
    text = boost::json::serialize(body);
  }
  return boost::json::serialize(boost::json::object{{"status", r.status}, {"body", std::move(text)}});
}

std::optional<HttpResponse> decode_response(const std::string& text) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  HttpResponse r;
  const auto& o = v.get_object();
  r.status = static_cast<int>(o.at("status").to_number<std::int64_t>());
  r.body = std::string(o.at("body").as_string());
  return r;
}

class CallRuntime final : public NodeRuntime, public ExchangeOwner {
 public:
  CallRuntime(const CallConfig& config, BuildContext& context)
      : config_(config),
        run_(context.run),
        stats_(context.stats),
        name_(context.node().name),
        lane_(context.lane(config.provider)),
        ok_(context.output(0)),
        error_(context.output(1)),
        prepare_(context.graph, flow::unlimited, [this](const Packet& p) {
          prepare(p);
          return flow::continue_msg();
        }) {}

  flow::receiver<Packet>* input() override { return &prepare_; }

  void complete(const ExchangePtr& exchange) override {
    auto& ex = static_cast<CallExchange&>(*exchange);
    CallResult& result = ex.result;
    if (should_split(ex, result)) {
      split(ex);
      return;
    }
    run_.metrics.input_tokens.fetch_add(static_cast<std::uint64_t>(result.usage.input_tokens), std::memory_order_relaxed);
    run_.metrics.output_tokens.fetch_add(static_cast<std::uint64_t>(result.usage.output_tokens), std::memory_order_relaxed);
    if (!result.failure && result.outputs.size() != ex.items.size())
      result.failure = failure_of(ErrorClass::malformed, fmt::format("the provider returned {} answers for {} items",
                                                                 result.outputs.size(), ex.items.size()));
    if (!result.failure)  // a server may echo the key in an answer: it must not reach an output
      for (auto& output : result.outputs) run_.redactor.redact_json(output);
    for (std::size_t i = 0; i < ex.items.size(); ++i) {
      std::optional<Failure> failure = result.failure;
      if (!failure) failure = apply_output(ex.items[i], result, i);
      if (failure) record_failure(ex.items[i], std::move(*failure), result);
      else ex.items[i].failure.reset();
    }
    remember(ex);
    std::lock_guard lock(answered_mutex_);
    for (Item& item : ex.items) (item.failure ? answered_failed_ : answered_ok_).push_back(std::move(item));
  }

  /// Sends on every item answered since the last flush. An answered item never waits for the
  /// rest of the packet it came in: it reaches its sink (and its commit) at once, and a drain
  /// or a crash does not throw paid answers away with an unfinished group.
  void flush() override {
    ItemVector ok, failed;
    {
      std::lock_guard lock(answered_mutex_);
      ok.swap(answered_ok_);
      failed.swap(answered_failed_);
    }
    ok_.emit(std::move(ok));
    error_.emit(std::move(failed));
  }

 private:
  void prepare(const Packet& packet) {
    ItemVector& items = *packet.items;
    stats_.received.fetch_add(items.size(), std::memory_order_relaxed);
    const std::int64_t now = RunState::unix_ms();
    if (config_.endpoint == Endpoint::embeddings) {
      send(std::move(items), now);
    } else {
      for (Item& item : items) {
        ItemVector one;
        one.push_back(std::move(item));
        send(std::move(one), now);
      }
    }
    flush();  // what was answered at once (simulations, the cache, requests that could not be built)
  }

  void send(ItemVector items, std::int64_t now) {
    auto ex = std::make_shared<CallExchange>();
    ex->owner = this;
    ex->items = std::move(items);
    for (Item& item : ex->items) {
      ++item.attempts;
      if (item.first_attempt_unix_ms == 0) item.first_attempt_unix_ms = now;
      item.last_attempt_unix_ms = now;
    }
    ex->bind_items();
    if (auto problem = build_request(*ex)) {  // nothing to send: it fails here, never counted as a request
      ex->result.failure = std::move(*problem);
      complete(ex);
      return;
    }
    try {
      ex->dispatch = lane_.provider().dispatch(ex->request);
    } catch (...) {  // a plugin provider that throws: the items fail, the run goes on
      ex->dispatch = Dispatch::respond(
          CallResult{failure_of(ErrorClass::invalid_request, current_exception_message()), {}, nullptr, {}, {}, {}, 0});
    }
    look_up_cache(*ex);
    lane_.submit(std::move(ex));
  }

  /// `cache = true`: an exact request answered before (this run, or one before it) is not sent.
  void look_up_cache(CallExchange& ex) const {
    if (!config_.cache || !run_.state || ex.dispatch.kind != Dispatch::Kind::http) return;
    ex.cache_key = cache_key(lane_.spec().name, ex.dispatch.http);
    if (auto stored = run_.state->cache_get(ex.cache_key)) {
      if (auto response = decode_response(*stored)) {
        ex.response = std::move(*response);
        ex.from_cache = true;
      }
    }
  }

  /// Keeps a successful answer for the next time the exact same request comes.
  void remember(const CallExchange& ex) const {
    if (ex.cache_key.empty() || ex.from_cache || ex.result.failure || ex.response.status < 200 || ex.response.status >= 300) return;
    try {
      run_.state->cache_put(ex.cache_key, encode_response(ex.response, run_.redactor));
    } catch (const StorageFull& e) {  // the state's next commit cannot succeed either: stop now
      run_.stop_resumable_now(fmt::format("{}: {}", name_, e.what()));
    } catch (const std::exception& e) {  // a cache that cannot write costs money, not results
      run_.console.log(LogLevel::warn, name_, fmt::format("cannot store an answer in the cache: {}", e.what()));
    }
  }

  /// Fills ex.request from the items; returns why it cannot be built.
  std::optional<Failure> build_request(Exchange& ex) const {
    CallRequest& r = ex.request;
    r.endpoint = config_.endpoint;
    r.model = config_.model;
    r.temperature = config_.temperature;
    r.max_tokens = config_.max_tokens;
    r.response_format = config_.response_format;
    r.attempt = ex.items.front().attempts;
    std::size_t chars = 0;
    switch (config_.endpoint) {
      case Endpoint::chat: {
        if (!config_.system.empty()) r.messages.push_back({"system", config_.system});
        Rendering prompt = config_.prompt.render(ex.items.front().fields);
        if (!prompt.ok()) return missing_field(ex.items.front(), *prompt.missing);
        r.messages.push_back({"user", std::move(prompt.text)});
        for (const auto& m : r.messages) chars += m.content.size();
        break;
      }
      case Endpoint::embeddings:
        for (const Item& item : ex.items) {
          Rendering input = config_.prompt.render(item.fields);
          if (!input.ok()) return missing_field(item, *input.missing);
          r.inputs.push_back(std::move(input.text));
          chars += r.inputs.back().size();
        }
        break;
      case Endpoint::passthrough: {
        const Item& item = ex.items.front();
        const boost::json::value* body = item.find("body");
        if (!body || !body->is_object())
          return failure_of(ErrorClass::invalid_request,
                            "the item has no \"body\" object to send (set `prompt` to build requests instead)");
        r.body = *body;
        for (const char* key : {"max_tokens", "max_completion_tokens"})
          if (const auto* m = body->as_object().if_contains(key); m && m->is_int64()) r.max_tokens = m->get_int64();
        if (const auto* url = item.find("url"); url && url->is_string()) r.url_path = std::string(url->get_string());
        if (const auto* method = item.find("method"); method && method->is_string())
          r.method = std::string(method->get_string());
        chars = boost::json::serialize(*body).size();
        break;
      }
    }
    r.estimated_tokens = static_cast<std::int64_t>(chars / 4) + r.max_tokens.value_or(0);
    return std::nullopt;
  }

  /// A prompt with a hole in it is never sent: the item lacks a field its template names.
  static Failure missing_field(const Item& item, const std::string& field) {
    std::vector<std::string> names;
    for (const auto& kv : item.fields) names.emplace_back(kv.key());
    return failure_of(ErrorClass::invalid_input,
                      fmt::format("the prompt names {{{{{}}}}}, which this item does not have (its fields: {}){}", field,
                                  names.empty() ? "none" : join(names, ", "), did_you_mean(field, names)));
  }

  /// A request for several items that the API rejects as invalid may be rejecting one of them:
  /// split it in halves and send each, until the poisoned item is alone and the rest succeed.
  static bool should_split(const CallExchange& ex, const CallResult& result) {
    return ex.items.size() > 1 && result.failure &&
           (result.failure->error_class == ErrorClass::invalid_request ||
            result.failure->error_class == ErrorClass::invalid_input);  // one item lacks a field: find it, send the rest
  }

  void split(CallExchange& ex) {
    run_.metrics.splits.fetch_add(1, std::memory_order_relaxed);
    const auto middle = ex.items.begin() + static_cast<std::ptrdiff_t>(ex.items.size() / 2);
    ItemVector first(std::make_move_iterator(ex.items.begin()), std::make_move_iterator(middle));
    ItemVector second(std::make_move_iterator(middle), std::make_move_iterator(ex.items.end()));
    const std::int64_t now = RunState::unix_ms();
    send(std::move(first), now);
    send(std::move(second), now);
  }

  /// Puts answer `i` on the item; returns a failure when the answer is unusable.
  std::optional<Failure> apply_output(Item& item, CallResult& result, std::size_t i) const {
    boost::json::value& answer = result.outputs[i];
    // A truncated or filtered answer is still an answer; say so on the item.
    if (!config_.finish_reason_field.empty() && !result.finish_reason.empty() && result.finish_reason != "stop")
      item.set(config_.finish_reason_field, boost::json::string(result.finish_reason));
    if (config_.endpoint == Endpoint::passthrough) {
      item.set(config_.output_field, boost::json::object{{"status_code", result.http_status},
                                                         {"request_id", result.request_id},
                                                         {"body", std::move(answer)}});
      return std::nullopt;
    }
    if (!config_.parse_json) {
      item.set(config_.output_field, std::move(answer));
      return std::nullopt;
    }
    const auto* text = answer.if_string();
    boost::system::error_code ec;
    boost::json::value parsed = text ? boost::json::parse(strip_code_fence(*text), ec) : answer;
    if (ec) return failure_of(ErrorClass::parse, fmt::format("the model's answer is not valid JSON: {}", ec.message()));
    if (!config_.output_field_given && parsed.is_object()) return merge_answer(item, parsed.get_object());
    item.set(config_.output_field, std::move(parsed));
    return std::nullopt;
  }

  /// Merges a JSON answer's fields into the item. An answer never overwrites what the item
  /// already holds (its id, its input, earlier answers): a key it repeats with the same value is
  /// fine (models echo ids); one with another value fails the item, with the answer in the
  /// message, rather than lose either value.
  static std::optional<Failure> merge_answer(Item& item, boost::json::object& answer) {
    for (const auto& kv : answer) {
      const boost::json::value* own = item.find(kv.key());
      if (!own || *own == kv.value()) continue;
      std::string shown = boost::json::serialize(answer);
      if (shown.size() > 300) shown = shown.substr(0, 300) + "...";
      return failure_of(ErrorClass::parse,
                        fmt::format("the answer's field \"{}\" ({}) would overwrite the item's own ({}); the item keeps "
                                    "its fields: set output_field to keep the answer apart. The answer: {}",
                                    std::string_view(kv.key()), boost::json::serialize(kv.value()), boost::json::serialize(*own),
                                    shown));
    }
    for (auto& kv : answer)
      if (!item.find(kv.key())) item.set(kv.key(), std::move(kv.value()));
    return std::nullopt;
  }

  /// Models often wrap JSON in a ```json fence; accept that.
  static std::string_view strip_code_fence(std::string_view text) {
    text = trim(text);
    if (text.substr(0, 3) != "```") return text;
    const auto first_newline = text.find('\n');
    const auto last_fence = text.rfind("```");
    if (first_newline == std::string_view::npos || last_fence <= first_newline) return text;
    return trim(text.substr(first_newline + 1, last_fence - first_newline - 1));
  }

  void record_failure(Item& item, Failure failure, const CallResult& result) const {
    failure.node = name_;
    failure.message = run_.redactor.redact_and_cut(failure.message, Redactor::kMaxMessageBytes);
    if (failure.request_id.empty()) failure.request_id = result.request_id;
    if (failure.http_status == 0) failure.http_status = result.http_status;
    item.error_history.push_back(failure.error_class);
    run_.metrics.count_attempt_error(failure.error_class);
    item.failure = std::move(failure);
  }

  const CallConfig& config_;
  RunState& run_;
  NodeStats& stats_;
  std::string name_;
  ProviderLane& lane_;
  OutputPort& ok_;
  OutputPort& error_;
  std::mutex answered_mutex_;
  ItemVector answered_ok_, answered_failed_;  // guarded by answered_mutex_; sent on by flush()
  flow::function_node<Packet, flow::continue_msg> prepare_;
};

std::optional<Endpoint> endpoint_named(std::string_view name) {
  if (name == "chat") return Endpoint::chat;
  if (name == "embeddings") return Endpoint::embeddings;
  if (name == "passthrough") return Endpoint::passthrough;
  return std::nullopt;
}

std::unique_ptr<NodeConfig> parse(ParseContext& ctx) {
  Options& o = ctx.options;
  auto config = std::make_unique<CallConfig>();
  config->provider_name = o.string("provider");
  std::vector<std::string> names;
  bool found = false;
  for (std::size_t i = 0; i < ctx.providers.size(); ++i) {
    names.push_back(ctx.providers[i].name);
    if (ctx.providers[i].name == config->provider_name) {
      config->provider = i;
      found = true;
    }
  }
  if (!found && o.has("provider"))
    o.error("provider", fmt::format("no [providers.{}] table{}", config->provider_name,
                                    did_you_mean(config->provider_name, names)));

  const std::string prompt = o.string("prompt");
  const std::string endpoint = o.has("endpoint") ? o.string("endpoint") : (prompt.empty() ? "passthrough" : "chat");
  if (auto e = endpoint_named(endpoint)) config->endpoint = *e;  // always: the reader checked the key's choices
  if (config->endpoint != Endpoint::passthrough && prompt.empty())
    o.error("prompt", fmt::format("required for endpoint \"{}\" (e.g. prompt = \"{{{{text}}}}\")", endpoint));
  config->prompt_where = ctx.options.location("prompt");
  try {
    config->prompt = Template(prompt);
  } catch (const std::invalid_argument& e) {
    o.error("prompt", e.what());
  }
  if (found && ctx.providers[config->provider].provider && !ctx.providers[config->provider].provider->supports(config->endpoint))
    o.error(o.has("endpoint") ? "endpoint" : "provider",
            fmt::format("provider \"{}\" ({}) does not support the {} endpoint", config->provider_name,
                        ctx.providers[config->provider].type, to_string(config->endpoint)));

  config->model = o.string("model");
  config->system = o.string("system");
  config->output_field_given = o.has("output_field");
  config->output_field = config->output_field_given ? o.string("output_field")
                                                    : (config->endpoint == Endpoint::passthrough ? "response" : "output");
  if (config->output_field.empty()) o.error("output_field", "must not be empty");
  if (o.has("temperature")) config->temperature = o.number("temperature");
  if (o.has("max_tokens")) {
    config->max_tokens = o.integer("max_tokens");
    if (*config->max_tokens < 1) o.error("max_tokens", "must be at least 1");
  }
  const std::string parse_mode = o.string("parse");
  config->parse_json = parse_mode == "json";  // else "text": the reader checked the key's choices
  config->finish_reason_field = o.string("finish_reason_field");
  config->cache = o.boolean("cache");
  config->response_format = o.json("response_format");
  if (!config->response_format.is_null() && !config->response_format.is_object())
    o.error("response_format", "must be a table, e.g. { type = \"json_object\" }");
  return config;
}

}  // namespace

NodeKind call_kind() {
  NodeKind k;
  k.table = "calls";
  k.name = "call";
  k.summary = "sends each item (or a batch, for embeddings) to a provider and puts the answer on it";
  k.keys = {
      {"provider", KeyKind::string, true, "", "the [providers.NAME] to call"},
      {"endpoint", KeyKind::string, false, "",
       "chat | embeddings | passthrough (default: chat with a prompt, else passthrough of the item's body)",
       {"chat", "embeddings", "passthrough"}},
      {"model", KeyKind::string, false, "", "the model to ask"},
      {"system", KeyKind::string, false, "", "the system prompt, shared by every item"},
      {"prompt", KeyKind::string, false, "", "the user prompt, templated from item fields: \"{{text}}\""},
      {"output_field", KeyKind::string, false, "", "where the answer goes (default: output; passthrough: response)"},
      {"temperature", KeyKind::number, false, "", "sampling temperature"},
      {"max_tokens", KeyKind::integer, false, "", "the most output tokens per answer"},
      {"parse", KeyKind::string, false, "text", "text | json: parse the answer as JSON into fields", {"text", "json"}},
      {"response_format", KeyKind::any, false, "", "OpenAI response_format table (JSON mode, JSON schema)"},
      {"cache", KeyKind::boolean, false, "false",
       "answer identical requests from the run's state (resumes and re-runs pay once); needs pipeline.state"},
      {"finish_reason_field", KeyKind::string, false, "finish_reason",
       "where a finish reason other than \"stop\" (length, content_filter) is written (\"\": nowhere)"},
  };
  k.outputs = {{"", PortKind::items}, {"error", PortKind::failed}};
  k.accepts = {PortKind::items};
  k.parse = parse;
  k.build = [](const NodeConfig& config, BuildContext& context) -> std::unique_ptr<NodeRuntime> {
    return std::make_unique<CallRuntime>(static_cast<const CallConfig&>(config), context);
  };
  return k;
}

}  // namespace flowbatch
