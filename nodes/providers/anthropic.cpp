// type = "anthropic": Anthropic's Messages API (x-api-key, anthropic-version). Chat calls and
// passthrough of prepared bodies. The key is read from the environment and never printed.
#include <fmt/format.h>
#include <boost/json.hpp>

#include "flowbatch/http.h"
#include "flowbatch/rate_headers.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

struct AnthropicSettings {
  std::string base_url;
  std::string api_key;
  std::string version;
  std::int64_t default_max_tokens = 1024;
  std::vector<HttpHeader> extra_headers;
};

class AnthropicProvider final : public Provider {
 public:
  explicit AnthropicProvider(AnthropicSettings s) : s_(std::move(s)) {}

  bool supports(Endpoint e) const override { return e != Endpoint::embeddings; }

  Dispatch dispatch(const CallRequest& r) override {
    HttpRequest http;
    http.headers = {{"Content-Type", "application/json"}, {"anthropic-version", s_.version}};
    if (!s_.api_key.empty()) http.headers.push_back({"x-api-key", s_.api_key});
    http.headers.insert(http.headers.end(), s_.extra_headers.begin(), s_.extra_headers.end());
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
    boost::json::array messages;
    for (const auto& m : r.messages) {
      if (m.role == "system") system += (system.empty() ? "" : "\n\n") + m.content;
      else messages.push_back(boost::json::object{{"role", m.role}, {"content", m.content}});
    }
    boost::json::object body{{"model", r.model},
                             {"max_tokens", r.max_tokens.value_or(s_.default_max_tokens)},
                             {"messages", std::move(messages)}};
    if (!system.empty()) body["system"] = system;
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
    if (const auto* u = o.if_contains("usage"); u && u->is_object()) {
      if (const auto* in = u->get_object().if_contains("input_tokens"))
        if (auto n = count_of(*in)) result.usage.input_tokens = static_cast<std::int64_t>(*n);
      if (const auto* out = u->get_object().if_contains("output_tokens"))
        if (auto n = count_of(*out)) result.usage.output_tokens = static_cast<std::int64_t>(*n);
    }
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

  AnthropicSettings s_;
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
       {"headers", KeyKind::any, false, "", "extra request headers, a table of strings"}},
      [](Options& o) -> std::shared_ptr<Provider> {
        AnthropicSettings s;
        s.base_url = read_base_url(o);
        s.api_key = o.secret("api_key_env");
        s.version = o.string("version");
        s.default_max_tokens = o.integer("default_max_tokens");
        if (s.default_max_tokens < 1) o.error("default_max_tokens", "must be at least 1");
        s.extra_headers = read_extra_headers(o);
        return std::make_shared<AnthropicProvider>(std::move(s));
      },
  });
}

}  // namespace flowbatch
