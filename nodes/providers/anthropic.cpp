// type = "anthropic": Anthropic's Messages API (x-api-key, anthropic-version). Chat calls and
// passthrough of prepared bodies. The key is read from the environment and never printed.
#include <fmt/format.h>
#include <boost/json.hpp>

#include "engine/core/tokens.h"
#include "flowbatch/http.h"
#include "flowbatch/rate_headers.h"
#include "nodes/kinds.h"
#include "nodes/providers/batch_apis.h"
#include "nodes/providers/prices/prices.h"

namespace flowbatch {
namespace {

struct AnthropicSettings {
  std::string base_url;
  std::string api_key;
  std::string version;
  std::int64_t default_max_tokens = 1024;
  bool prompt_cache = true;
  std::vector<HttpHeader> extra_headers;
};

class AnthropicProvider final : public Provider {
 public:
  explicit AnthropicProvider(AnthropicSettings s)
      : s_(std::move(s)), headers_(headers()), batch_(make_anthropic_batch_api(s_.base_url, headers_)) {}

  const BatchApi* batch_api() const override { return batch_.get(); }

  bool supports(Endpoint e) const override { return e != Endpoint::embeddings; }

  Dispatch dispatch(const CallRequest& r) override {
    HttpRequest http;
    http.headers = headers_;  // made once: the settings never change during a run
    if (r.endpoint == Endpoint::passthrough) {
      http.method = r.method;
      http.url = join_url(s_.base_url, r.url_path.empty() ? "/messages" : r.url_path);
      http.body = boost::json::serialize(r.body);
      return Dispatch::send(std::move(http));
    }
    if (!r.response_format.is_null()) {
      CallResult refused;
      refused.failure =
          make_failure(ErrorClass::invalid_request,
                       "the Anthropic API has no response_format; ask for JSON in the prompt and set parse = \"json\"");
      return Dispatch::respond(std::move(refused));
    }
    // Anthropic takes the system prompt beside the messages, not among them.
    std::string system;
    for (const auto& m : r.messages)
      if (m.role == "system") system += (system.empty() ? "" : "\n\n") + m.content;
    const CacheBreak cache_break = s_.prompt_cache ? where_to_cache(system, r.messages) : CacheBreak::none;
    boost::json::array messages;
    bool first_user = true;
    for (const auto& m : r.messages) {
      if (m.role == "system") continue;
      if (m.role == "user" && first_user && cache_break == CacheBreak::user_prefix) {
        messages.push_back(boost::json::object{{"role", m.role}, {"content", split_at_shared_prefix(m)}});
      } else {
        messages.push_back(boost::json::object{{"role", m.role}, {"content", m.content}});
      }
      if (m.role == "user") first_user = false;
    }
    boost::json::object body{{"model", r.model},
                             {"max_tokens", r.max_tokens.value_or(s_.default_max_tokens)},
                             {"messages", std::move(messages)}};
    if (cache_break == CacheBreak::system) body["system"] = boost::json::array{cached_text_block(system)};
    else if (!system.empty()) body["system"] = system;
    if (r.temperature) body["temperature"] = *r.temperature;
    http.url = join_url(s_.base_url, "/messages");
    http.body = boost::json::serialize(body);
    return Dispatch::send(std::move(http));
  }

  CallResult parse(const CallRequest& r, const HttpResponse& response) override {
    return with_signals(read_response(r, response), anthropic_rate_signals(response));
  }

 private:
  CallResult read_response(const CallRequest& r, const HttpResponse& response) {
    const std::string* id_header = response.header("request-id");
    const std::string request_id = id_header ? *id_header : std::string();
    boost::json::value body = parse_body(response.body);
    if (response.status < 200 || response.status >= 300) {
      CallResult failed = http_failure(response, body.is_null() ? nullptr : &body, request_id);
      if (failed.failure->message.find("credit balance is too low") != std::string::npos)
        failed.failure->error_class = ErrorClass::quota;
      return failed;
    }
    if (!body.is_object()) return unusable_answer(response, "the answer is not a JSON object", request_id);
    CallResult result;
    result.http_status = response.status;
    result.request_id = request_id;
    const auto& o = body.get_object();
    if (const auto* u = o.if_contains("usage"); u && u->is_object()) read_usage(u->get_object(), result.usage);
    if (r.endpoint == Endpoint::passthrough) {
      result.outputs.push_back(std::move(body));
      return result;
    }
    if (const auto* stop = o.if_contains("stop_reason"); stop && stop->is_string())
      result.finish_reason = finish_reason(stop->get_string());
    const auto* content = o.if_contains("content");
    if (!content || !content->is_array()) return unusable_answer(response, "the answer has no content", request_id);
    std::string text;
    for (const auto& block : content->get_array()) {
      const auto* b = block.if_object();
      if (!b) continue;
      const auto* type = b->if_contains("type");
      const auto* t = b->if_contains("text");
      if (type && type->is_string() && type->get_string() == "text" && t && t->is_string()) text += t->get_string();
    }
    result.outputs.emplace_back(std::move(text));
    return result;
  }

  /// Anthropic's stop reasons in the vocabulary flowbatch uses for every provider.
  static std::string finish_reason(std::string_view stop) {
    if (stop == "end_turn" || stop == "stop_sequence") return "stop";
    if (stop == "max_tokens") return "length";
    if (stop == "refusal") return "content_filter";
    return std::string(stop);
  }

  /// Where the prompt's shared part ends, if it is long enough for Anthropic to cache (below the
  /// smallest minimum of any model, 1,024 tokens, a cache_control mark is ignored — but a longer
  /// part marked once is read back at a tenth of the price by every later request).
  enum class CacheBreak : std::uint8_t { none, system, user_prefix };
  static constexpr std::int64_t kCacheMinTokens = 1024;

  static CacheBreak where_to_cache(const std::string& system, const std::vector<ChatMessage>& messages) {
    std::size_t shared = system.size();
    const ChatMessage* user = nullptr;
    for (const auto& m : messages)
      if (m.role == "user") {
        user = &m;
        break;
      }
    if (user && user->shared_prefix > 0) shared += user->shared_prefix;
    if (estimate_tokens(shared) < kCacheMinTokens) return CacheBreak::none;
    return user && user->shared_prefix > 0 ? CacheBreak::user_prefix : CacheBreak::system;
  }

  static boost::json::object cached_text_block(std::string_view text) {
    return boost::json::object{
        {"type", "text"}, {"text", text}, {"cache_control", boost::json::object{{"type", "ephemeral"}}}};
  }

  /// A message whose start every request shares, as two text blocks: the shared part marked for
  /// the cache (everything before the mark is cached with it, the system prompt included).
  static boost::json::array split_at_shared_prefix(const ChatMessage& m) {
    const std::string_view text = m.content;
    const std::size_t cut = std::min(m.shared_prefix, text.size());
    boost::json::array blocks{cached_text_block(text.substr(0, cut))};
    if (cut < text.size()) blocks.push_back(boost::json::object{{"type", "text"}, {"text", text.substr(cut)}});
    return blocks;
  }

  /// Anthropic counts the prompt's cached part apart from `input_tokens`: flowbatch's input is all
  /// of it, with what was read from and written to the cache noted (they are priced apart).
  static void read_usage(const boost::json::object& u, Usage& usage) {
    auto count = [&u](const char* key) -> std::int64_t {
      const auto* v = u.if_contains(key);
      const auto n = v ? count_of(*v) : std::nullopt;
      return n ? static_cast<std::int64_t>(*n) : 0;
    };
    usage.cached_input_tokens = count("cache_read_input_tokens");
    usage.cache_write_tokens = count("cache_creation_input_tokens");
    usage.input_tokens = count("input_tokens") + usage.cached_input_tokens + usage.cache_write_tokens;
    usage.output_tokens = count("output_tokens");
  }

  std::vector<HttpHeader> headers() const {
    std::vector<HttpHeader> h = {{"Content-Type", "application/json"}, {"anthropic-version", s_.version}};
    if (!s_.api_key.empty()) h.push_back({"x-api-key", s_.api_key});
    h.insert(h.end(), s_.extra_headers.begin(), s_.extra_headers.end());
    return h;
  }

  AnthropicSettings s_;
  std::vector<HttpHeader> headers_;  // every request's, from the settings
  std::unique_ptr<BatchApi> batch_;
};

}  // namespace

void register_anthropic_provider(Registry& registry) {
  registry.add(ProviderType{
      "anthropic",
      "Anthropic Messages API: chat and passthrough",
      {{"base_url", KeyKind::string, false, "https://api.anthropic.com/v1", "the API's base URL"},
       {"api_key_env", KeyKind::string, false, "ANTHROPIC_API_KEY", "the environment variable holding the key"},
       {"version", KeyKind::string, false, "2023-06-01", "sent as anthropic-version"},
       {"default_max_tokens", KeyKind::integer, false, "1024",
        "max_tokens for calls that set none (the Messages API requires one)"},
       {"headers", KeyKind::any, false, "", "extra request headers, a table of strings"},
       {"prompt_cache", KeyKind::boolean, false, "true",
        "mark the part every request shares (system prompt, packing instructions) for Anthropic's prompt cache "
        "when it is long enough to be cached (1,024 tokens): later requests read it at a tenth of the price"}},
      [](Options& o) -> std::shared_ptr<Provider> {
        AnthropicSettings s;
        s.prompt_cache = o.boolean("prompt_cache");
        s.base_url = read_base_url(o);
        s.api_key = o.secret("api_key_env");
        s.version = o.string("version");
        s.default_max_tokens = o.integer("default_max_tokens");
        if (s.default_max_tokens < 1) o.error("default_max_tokens", "must be at least 1");
        s.extra_headers = read_extra_headers(o);
        return std::make_shared<AnthropicProvider>(std::move(s));
      },
      kAnthropicPrices,
      /*remote=*/true,
  });
}

}  // namespace flowbatch
