// [calls.NAME]: turns items into requests to a provider (one per item; several items in one packed
// chat request with pack_max_items; a whole batch for embeddings) and puts each answer on its
// item. The engine's CallSession sends them through the provider's shared lane and settles the
// answers; this kind says how a request is made and how an answer is read. Successes leave on the
// default port, failures on `NAME.error`, each with its error class; one item's failure never
// touches the others.
#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "engine/core/exceptions.h"
#include "engine/core/hash.h"
#include "engine/core/template.h"
#include "engine/core/text.h"
#include "engine/core/tokens.h"
#include "engine/runtime/build_context.h"
#include "engine/runtime/call_session.h"
#include "engine/runtime/node_runtime.h"
#include "engine/state/response_cache.h"
#include "nodes/calls/answer.h"
#include "nodes/calls/cached_response.h"
#include "nodes/calls/call_config.h"
#include "nodes/calls/pack_format.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

Failure failure_of(ErrorClass c, std::string message) { return make_failure(c, std::move(message)); }

/// The key of an exact request: where it goes and what it says (never the headers: the key).
std::string request_key(const HttpRequest& r) { return cache_key_of(r.method + '\n' + r.url + '\n' + r.body); }

class CallRuntime final : public NodeRuntime, public CallShape {
 public:
  CallRuntime(const CallConfig& config, BuildContext& context)
      : config_(config),
        session_(*this, context, config.provider),
        run_(context.run),
        stats_(context.stats),
        cache_(config.cache ? context.run.response_cache() : nullptr),
        shuffle_seed_(std::random_device{}()),
        prepare_(context.graph, flow::unlimited, [this](const Packet& p) {
          prepare(p);
          return flow::continue_msg();
        }) {
    if (config.batch.mode != CallMode::online) session_.use_batches(config.batch, context.plan.pipeline.name);
  }

  flow::receiver<Packet>* input() override { return &prepare_; }

  // --- CallShape ----------------------------------------------------------------------------
  std::optional<Failure> build(Exchange& ex) override {
    CallRequest& r = ex.request;
    r.endpoint = config_.endpoint;
    r.model = config_.model;
    r.temperature = config_.temperature;
    r.max_tokens = config_.max_tokens;
    r.response_format = config_.response_format;
    r.prompt_cache_key = config_.prompt_cache_key;
    r.attempt = ex.items.front().attempts;
    std::size_t chars = 0;
    if (config_.packs()) {
      if (auto problem = build_pack(ex, chars)) return problem;
    } else {
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
            ex.weights.push_back(r.inputs.back().size());
          }
          break;
        case Endpoint::passthrough:
          if (auto problem = build_passthrough(ex.items.front(), r)) return problem;
          chars = approximate_json_chars(r.body);
          break;
      }
    }
    r.estimated_tokens = estimate_tokens(chars) + r.max_tokens.value_or(0);
    return std::nullopt;
  }

  /// `cache = true` without packing: an exact request answered before (by any run, any graph
  /// sharing the cache) is not sent.
  void look_up(Exchange& ex) override {
    if (!cache_ || config_.packs() || ex.dispatch.kind != Dispatch::Kind::http) return;
    ex.cache_key = request_key(ex.dispatch.http);
    if (auto stored = cache_get(ex.cache_key)) {
      if (auto response = decode_response(stored->value)) {
        ex.response = std::move(*response);
        ex.from_cache = true;
      }
    }
  }

  void read(Exchange& ex, std::span<Verdict> verdicts) override {
    CallResult& result = ex.result;
    if (config_.packs()) return read_pack(ex, verdicts);
    if (result.outputs.size() != ex.items.size()) {
      for (auto& v : verdicts)
        v = Verdict::fail(failure_of(ErrorClass::malformed, fmt::format("the provider returned {} answers for {} items",
                                                                        result.outputs.size(), ex.items.size())));
      return;
    }
    for (std::size_t i = 0; i < ex.items.size(); ++i) {
      Item& item = ex.items[i];
      mark_finish_reason(item, result.finish_reason);
      if (auto failure = place(item, std::move(result.outputs[i]), result))
        verdicts[i] = Verdict::fail(std::move(*failure));
    }
  }

  /// Keeps a whole answer for the next time the exact same request comes: only a complete one
  /// (finish reason "stop", or none given), never one cut short or filtered.
  void settled(const Exchange& ex, std::span<const Verdict>) override {
    const CallResult& result = ex.result;
    if (ex.cache_key.empty() || ex.from_cache || result.failure || ex.response.status < 200 ||
        ex.response.status >= 300)
      return;
    if (!result.finish_reason.empty() && result.finish_reason != "stop") return;
    cache_put(ex.cache_key, CachedAnswer{encode_response(ex.response, run_.redactor), result.usage.input_tokens,
                                         result.usage.output_tokens});
  }

 private:
  void prepare(const Packet& packet) {
    ItemVector& items = *packet.items;
    stats_.received.fetch_add(items.size(), std::memory_order_relaxed);
    if (config_.endpoint == Endpoint::embeddings) {
      // Batch mode: items an earlier run's line holds go back to it, however they are grouped now.
      items = session_.send_held_by_earlier_lines(std::move(items), [](const Item&) { return std::string(); });
      if (!items.empty()) session_.send(std::move(items));
    } else if (config_.packs()) {
      pack(std::move(items));
    } else {
      for (Item& item : items) {
        ItemVector one;
        one.push_back(std::move(item));
        session_.send(std::move(one));
      }
    }
    session_.flush();  // what was answered at once (simulations, the cache, requests that could not be built)
  }

  // --- packing ------------------------------------------------------------------------------
  /// Groups items into packs of at most pack_max_items and about pack_max_tokens of inputs. An
  /// item the cache answers is left out; one whose prompt cannot be made goes alone (and fails
  /// there, alone); two items with one id never share a pack (answers are split back by id). In
  /// batch mode, items an earlier run's job holds go back to their packs there first.
  void pack(ItemVector items) {
    items = session_.send_held_by_earlier_lines(std::move(items), [this](const Item& item) {
      if (!cache_) return std::string();
      Rendering input = config_.prompt.render(item.fields);
      return input.ok() ? pack_item_key(input.text) : std::string();
    });
    ItemVector group;
    std::vector<std::string> keys;
    std::unordered_set<std::string> ids;
    std::int64_t tokens = 0;
    auto send_group = [&] {
      if (group.empty()) return;
      session_.send(std::move(group), std::move(keys));
      group = ItemVector();
      keys.clear();
      ids.clear();
      tokens = 0;
    };
    for (Item& item : items) {
      Rendering input = config_.prompt.render(item.fields);
      if (!input.ok()) {
        ItemVector alone;
        alone.push_back(std::move(item));
        session_.send(std::move(alone));
        continue;
      }
      std::string key = cache_ ? pack_item_key(input.text) : std::string();
      if (!key.empty() && answer_from_cache(item, key)) continue;
      const std::int64_t item_tokens = estimate_tokens(input.text.size() + item.id.size() + 16);
      if (!group.empty() && (group.size() >= config_.pack_max_items || tokens + item_tokens > config_.pack_max_tokens ||
                             ids.contains(item.id)))
        send_group();
      ids.insert(item.id);
      tokens += item_tokens;
      keys.push_back(std::move(key));
      group.push_back(std::move(item));
    }
    send_group();
  }

  std::optional<Failure> build_pack(Exchange& ex, std::size_t& chars) {
    CallRequest& r = ex.request;
    std::vector<pack::Input> inputs;
    inputs.reserve(ex.items.size());
    for (const Item& item : ex.items) {
      Rendering input = config_.prompt.render(item.fields);
      if (!input.ok()) return missing_field(item, *input.missing);
      ex.weights.push_back(input.text.size());
      inputs.push_back(pack::Input{item.id, std::move(input.text)});
    }
    // An item's answer may depend on its place in a pack: no item keeps one place for good.
    std::uint64_t dice = hash_combine(shuffle_seed_, shuffles_.fetch_add(1, std::memory_order_relaxed));
    for (std::size_t i = inputs.size(); i > 1; --i) {
      dice = hash_combine(dice, i);
      std::swap(inputs[i - 1], inputs[dice % i]);
    }
    if (!config_.system.empty()) r.messages.push_back({"system", config_.system});
    std::string user = pack::user_message(inputs, config_.placement.parse_json);
    const std::size_t marker = user.rfind(pack::kInputsMarker);  // the instructions before it are shared
    r.messages.push_back({"user", std::move(user), marker == std::string::npos ? 0 : marker});
    if (config_.prefill) r.messages.push_back({"assistant", std::string(pack::kPrefill)});
    else r.response_format = pack::response_format(config_.placement.parse_json, config_.output_schema);
    if (config_.max_tokens)  // per answer: a pack of n answers may take n times as many, and their ids
      r.max_tokens = (*config_.max_tokens + 16) * static_cast<std::int64_t>(ex.items.size());
    for (const auto& m : r.messages) chars += m.content.size();
    count_pack(ex, chars);
    return std::nullopt;
  }

  /// Against one request per item, a pack of n saves n - 1 system prompts and adds the
  /// instruction and the ids.
  void count_pack(const Exchange& ex, std::size_t pack_chars) const {
    std::size_t inputs = 0;
    for (auto w : ex.weights) inputs += w;
    const std::size_t alone = ex.items.size() * config_.system.size() + inputs;
    Metrics& m = run_.metrics;
    m.packed_requests.fetch_add(1, std::memory_order_relaxed);
    m.packed_items.fetch_add(ex.items.size(), std::memory_order_relaxed);
    session_.count_saved_by_packing(estimate_tokens(alone) - estimate_tokens(pack_chars), config_.model);
  }

  /// Splits a packed answer back by id. An item answered exactly once gets its answer; one left
  /// out, answered twice or under a garbled id goes again (in a smaller pack); answers for ids
  /// that were not asked are dropped. A pack cut short or not readable goes again in halves.
  void read_pack(Exchange& ex, std::span<Verdict> verdicts) {
    const CallResult& result = ex.result;
    const auto* text = result.outputs.size() == 1 ? result.outputs.front().if_string() : nullptr;
    std::variant<std::vector<pack::Result>, std::string> answer =
        text ? pack::read_answer(*text, config_.prefill ? pack::kPrefill : std::string_view())
             : std::string("the provider returned no text answer");
    const bool cut = result.finish_reason == "length";
    if (cut || std::holds_alternative<std::string>(answer)) {
      const std::string why = cut ? "the packed answer was cut short at max_tokens" : std::get<std::string>(answer);
      for (auto& v : verdicts)
        v = ex.items.size() > 1 ? Verdict::retry() : Verdict::fail(failure_of(ErrorClass::parse, why));
      return;
    }
    auto& results = std::get<std::vector<pack::Result>>(answer);
    std::unordered_map<std::string_view, std::pair<std::size_t, std::size_t>> by_id;  // id -> (count, index)
    for (std::size_t k = 0; k < results.size(); ++k) {
      auto& [count, index] = by_id[results[k].id];
      ++count;
      index = k;
    }
    std::size_t total_weight = 0;
    for (auto w : ex.weights) total_weight += w;
    for (std::size_t i = 0; i < ex.items.size(); ++i) {
      Item& item = ex.items[i];
      const auto found = by_id.find(item.id);
      if (found == by_id.end() || found->second.first != 1) {
        verdicts[i] =
            ex.items.size() > 1
                ? Verdict::retry()
                : Verdict::fail(failure_of(ErrorClass::malformed, found == by_id.end()
                                                                      ? "the packed answer left this item out"
                                                                      : "the packed answer answered this item twice"));
        continue;
      }
      boost::json::value output = std::move(results[found->second.second].output);
      if (!config_.placement.parse_json && !output.is_string()) output = boost::json::serialize(output);
      const std::string cached = cache_ && i < ex.item_keys.size() && !ex.item_keys[i].empty()
                                     ? boost::json::serialize(boost::json::object{{"output", output}})
                                     : std::string();
      if (auto failure = place(item, std::move(output), result)) {
        verdicts[i] = Verdict::fail(std::move(*failure));
        continue;
      }
      if (!cached.empty() && !ex.from_cache) {
        const auto share = [&](std::int64_t amount) {
          return total_weight ? static_cast<std::int64_t>(static_cast<double>(amount) * ex.weights[i] / total_weight)
                              : 0;
        };
        cache_put(ex.item_keys[i],
                  CachedAnswer{cached, share(result.usage.input_tokens), share(result.usage.output_tokens)});
      }
    }
  }

  /// What decides a packed item's answer: the request that item would make alone, under a fixed
  /// id — the provider's URL, model, system, parameters, the contract's wording and version — so
  /// a re-run hits whatever packs the items land in. Empty when the provider sends no HTTP.
  std::string pack_item_key(const std::string& input) {
    CallRequest r;
    r.endpoint = Endpoint::chat;
    r.model = config_.model;
    r.temperature = config_.temperature;
    r.max_tokens = config_.max_tokens;
    if (!config_.system.empty()) r.messages.push_back({"system", config_.system});
    r.messages.push_back({"user", pack::user_message({pack::Input{"0", input}}, config_.placement.parse_json)});
    if (config_.prefill) r.messages.push_back({"assistant", std::string(pack::kPrefill)});
    else r.response_format = pack::response_format(config_.placement.parse_json, config_.output_schema);
    try {
      const Dispatch d = session_.lane().provider().dispatch(r);
      if (d.kind != Dispatch::Kind::http) return {};
      return cache_key_of(fmt::format("pack/{}\n{}", pack::kVersion, d.http.url) + '\n' + d.http.body);
    } catch (const std::exception&) {
      return {};  // a provider that cannot make it cannot send it either: the item fails when sent
    }
  }

  bool answer_from_cache(Item& item, const std::string& key) {
    auto stored = cache_get(key);
    if (!stored) return false;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(stored->value, ec);
    auto* o = v.if_object();
    auto* output = o ? o->if_contains("output") : nullptr;
    if (ec || !output) return false;
    Item answered = item;
    if (place(answered, std::move(*output), CallResult{})) return false;  // not usable here: ask again
    run_.metrics.cache_hits.fetch_add(1, std::memory_order_relaxed);
    Usage paid;
    paid.input_tokens = stored->input_tokens;
    paid.output_tokens = stored->output_tokens;
    session_.count_saved_by_cache(paid, config_.model);
    session_.answered_without_request(std::move(answered));
    return true;
  }

  // --- the cache ----------------------------------------------------------------------------
  std::optional<CachedAnswer> cache_get(const std::string& key) {
    try {
      return cache_->get(key);
    } catch (const std::exception& e) {  // a cache that cannot be read costs money, not results
      run_.console.log(LogLevel::warn, session_.name(), fmt::format("cannot read the response cache: {}", e.what()));
      return std::nullopt;
    }
  }

  void cache_put(const std::string& key, const CachedAnswer& answer) {
    try {
      cache_->put(key, answer);
    } catch (const StorageFull& e) {  // the state's next commit cannot succeed either: stop now
      run_.stop_resumable_now(fmt::format("{}: {}", session_.name(), e.what()));
    } catch (const std::exception& e) {  // a cache that cannot write costs money, not results
      run_.console.log(LogLevel::warn, session_.name(),
                       fmt::format("cannot store an answer in the cache: {}", e.what()));
    }
  }

  // --- answers ------------------------------------------------------------------------------
  std::optional<Failure> build_passthrough(const Item& item, CallRequest& r) const {
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
    return std::nullopt;
  }

  /// A truncated or filtered answer is still an answer; say so on the item.
  void mark_finish_reason(Item& item, const std::string& finish_reason) const {
    if (!config_.finish_reason_field.empty() && !finish_reason.empty() && finish_reason != "stop")
      item.set(config_.finish_reason_field, boost::json::string(finish_reason));
  }

  std::optional<Failure> place(Item& item, boost::json::value answer, const CallResult& result) const {
    if (config_.endpoint == Endpoint::passthrough) {
      item.set(config_.placement.output_field, boost::json::object{{"status_code", result.http_status},
                                                                   {"request_id", result.request_id},
                                                                   {"body", std::move(answer)}});
      return std::nullopt;
    }
    return place_answer(item, std::move(answer), config_.placement);
  }

  /// A prompt with a hole in it is never sent: the item lacks a field its template names.
  static Failure missing_field(const Item& item, const std::string& field) {
    std::vector<std::string> names;
    for (const auto& kv : item.fields) names.emplace_back(kv.key());
    return failure_of(ErrorClass::invalid_input,
                      fmt::format("the prompt names {{{{{}}}}}, which this item does not have (its fields: {}){}",
                                  field, names.empty() ? "none" : join(names, ", "), did_you_mean(field, names)));
  }

  const CallConfig& config_;
  CallSession session_;
  RunState& run_;
  NodeStats& stats_;
  ResponseCache* cache_;
  const std::uint64_t shuffle_seed_;
  std::atomic<std::uint64_t> shuffles_{0};
  flow::function_node<Packet, flow::continue_msg> prepare_;
};

}  // namespace

NodeKind call_kind() {
  NodeKind k;
  k.table = "calls";
  k.name = "call";
  k.summary = "sends each item (or a batch, for embeddings) to a provider and puts the answer on it";
  k.keys = call_keys();
  k.outputs = {{"", PortKind::items}, {"error", PortKind::failed}};
  k.accepts = {PortKind::items};
  k.parse = parse_call;
  k.build = [](const NodeConfig& config, BuildContext& context) -> std::unique_ptr<NodeRuntime> {
    return std::make_unique<CallRuntime>(static_cast<const CallConfig&>(config), context);
  };
  return k;
}

}  // namespace flowbatch
