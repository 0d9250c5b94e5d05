// type = "openai": any OpenAI-compatible API (OpenAI, Azure-style gateways, vLLM, Ollama,
// llama.cpp's server). Chat completions, embeddings, and passthrough of prepared request bodies
// (OpenAI Batch API lines). The key is read from the environment and never printed.
#include <fmt/format.h>
#include <boost/json.hpp>

#include <algorithm>

#include "flowbatch/http.h"
#include "flowbatch/rate_headers.h"
#include "nodes/kinds.h"
#include "nodes/providers/batch_apis.h"
#include "nodes/providers/prices/prices.h"

namespace flowbatch {
namespace {

struct OpenAiSettings {
  std::string base_url;
  std::string api_key;
  std::string organization;
  std::string project;
  std::string max_tokens_field;
  std::vector<HttpHeader> extra_headers;
};

class OpenAiProvider final : public Provider {
 public:
  explicit OpenAiProvider(OpenAiSettings s)
      : s_(std::move(s)), headers_(headers()), batch_(make_openai_batch_api(s_.base_url, headers_)) {}

  const BatchApi* batch_api() const override { return batch_.get(); }

  bool supports(Endpoint) const override { return true; }

  Dispatch dispatch(const CallRequest& r) override {
    HttpRequest http;
    http.method = "POST";
    http.headers = headers_;  // made once: the settings never change during a run
    switch (r.endpoint) {
      case Endpoint::chat: {
        boost::json::array messages;
        for (const auto& m : r.messages)
          messages.push_back(boost::json::object{{"role", m.role}, {"content", m.content}});
        boost::json::object body{{"model", r.model}, {"messages", std::move(messages)}};
        if (r.temperature) body["temperature"] = *r.temperature;
        if (r.max_tokens) body[s_.max_tokens_field] = *r.max_tokens;
        if (!r.response_format.is_null()) body["response_format"] = r.response_format;
        if (!r.prompt_cache_key.empty()) body["prompt_cache_key"] = r.prompt_cache_key;
        http.url = join_url(s_.base_url, "/chat/completions");
        http.body = boost::json::serialize(body);
        break;
      }
      case Endpoint::embeddings: {
        boost::json::array input;
        for (const auto& text : r.inputs) input.emplace_back(text);
        http.url = join_url(s_.base_url, "/embeddings");
        http.body = boost::json::serialize(boost::json::object{{"model", r.model}, {"input", std::move(input)}});
        break;
      }
      case Endpoint::passthrough:
        http.method = r.method;
        http.url = join_url(s_.base_url, r.url_path.empty() ? "/chat/completions" : r.url_path);
        http.body = boost::json::serialize(r.body);
        break;
    }
    return Dispatch::send(std::move(http));
  }

  CallResult parse(const CallRequest& r, const HttpResponse& response) override {
    return with_signals(read_response(r, response), openai_rate_signals(response));
  }

 private:
  CallResult read_response(const CallRequest& r, const HttpResponse& response) {
    const std::string request_id = header_or_empty(response, "x-request-id");
    boost::json::value body = parse_body(response.body);
    if (response.status < 200 || response.status >= 300) {
      CallResult failed = http_failure(response, body.is_null() ? nullptr : &body, request_id);
      if (response.status == 429 && is_quota(body)) failed.failure->error_class = ErrorClass::quota;
      return failed;
    }
    if (!body.is_object()) return unusable_answer(response, "the answer is not a JSON object", request_id);
    CallResult result;
    result.http_status = response.status;
    result.request_id = request_id;
    read_usage(body.get_object(), result.usage);
    switch (r.endpoint) {
      case Endpoint::chat: return read_chat(std::move(result), body.get_object(), response);
      case Endpoint::embeddings:
        return read_embeddings(std::move(result), body.get_object(), r.inputs.size(), response);
      case Endpoint::passthrough: result.outputs.push_back(std::move(body)); return result;
    }
    return result;
  }

  std::vector<HttpHeader> headers() const {
    std::vector<HttpHeader> h = {{"Content-Type", "application/json"}};
    if (!s_.api_key.empty()) h.push_back({"Authorization", "Bearer " + s_.api_key});
    if (!s_.organization.empty()) h.push_back({"OpenAI-Organization", s_.organization});
    if (!s_.project.empty()) h.push_back({"OpenAI-Project", s_.project});
    h.insert(h.end(), s_.extra_headers.begin(), s_.extra_headers.end());
    return h;
  }

  static std::string header_or_empty(const HttpResponse& r, std::string_view name) {
    const std::string* v = r.header(name);
    return v ? *v : std::string();
  }

  /// A 429 that means "out of credit", not "slow down": retrying it cannot help.
  static bool is_quota(const boost::json::value& body) {
    const auto* o = body.if_object();
    const auto* error = o ? o->if_contains("error") : nullptr;
    const auto* e = error ? error->if_object() : nullptr;
    if (!e) return false;
    for (const char* key : {"code", "type"})
      if (const auto* v = e->if_contains(key); v && v->is_string() && v->get_string() == "insufficient_quota")
        return true;
    return false;
  }

  static void read_usage(const boost::json::object& body, Usage& usage) {
    const auto* u = body.if_contains("usage");
    if (!u || !u->is_object()) return;
    const auto& o = u->get_object();
    if (const auto* p = o.if_contains("prompt_tokens"))
      if (auto n = count_of(*p)) usage.input_tokens = static_cast<std::int64_t>(*n);
    if (const auto* c = o.if_contains("completion_tokens"))
      if (auto n = count_of(*c)) usage.output_tokens = static_cast<std::int64_t>(*n);
    // Of the prompt, what the automatic prompt cache held (priced at the cached-input rate).
    if (const auto* d = o.if_contains("prompt_tokens_details"); d && d->is_object())
      if (const auto* cached = d->get_object().if_contains("cached_tokens"))
        if (auto n = count_of(*cached))
          usage.cached_input_tokens = std::min(static_cast<std::int64_t>(*n), usage.input_tokens);
  }

  static CallResult read_chat(CallResult result, const boost::json::object& body, const HttpResponse& response) {
    const auto* choices = body.if_contains("choices");
    if (!choices || !choices->is_array() || choices->get_array().empty() || !choices->get_array()[0].is_object())
      return unusable_answer(response, "the answer has no choices", result.request_id);
    const auto& choice = choices->get_array()[0].get_object();
    if (const auto* f = choice.if_contains("finish_reason"); f && f->is_string())
      result.finish_reason = f->get_string();
    const auto* message = choice.if_contains("message");
    const auto* content = message && message->is_object() ? message->get_object().if_contains("content") : nullptr;
    if (!content || !content->is_string()) {
      // No text because the model stopped for a reason of its own (content_filter, tool_calls) is
      // the model's answer, which a retry would repeat; no text and no such reason is a broken answer.
      const bool models_choice = !result.finish_reason.empty() && result.finish_reason != "stop";
      return unusable_answer(response,
                             fmt::format("the answer has no text (finish_reason: {})",
                                         result.finish_reason.empty() ? "none" : result.finish_reason),
                             result.request_id, models_choice ? ErrorClass::parse : ErrorClass::malformed);
    }
    result.outputs.emplace_back(content->get_string());
    return result;
  }

  static CallResult read_embeddings(CallResult result, const boost::json::object& body, std::size_t expected,
                                    const HttpResponse& response) {
    const auto* data = body.if_contains("data");
    if (!data || !data->is_array()) return unusable_answer(response, "the answer has no data", result.request_id);
    std::vector<boost::json::value> vectors(expected);
    std::size_t found = 0;
    for (const auto& entry : data->get_array()) {
      const auto* o = entry.if_object();
      const auto* index = o ? o->if_contains("index") : nullptr;
      const auto* embedding = o ? o->if_contains("embedding") : nullptr;
      const auto i = index ? count_of(*index) : std::nullopt;
      if (!i || !embedding) continue;
      if (*i < expected && vectors[*i].is_null()) {
        vectors[*i] = *embedding;
        ++found;
      }
    }
    if (found != expected)
      return unusable_answer(response, fmt::format("the answer has {} embeddings for {} inputs", found, expected),
                             result.request_id);
    result.outputs = std::move(vectors);
    return result;
  }

  OpenAiSettings s_;
  std::vector<HttpHeader> headers_;  // every request's, from the settings
  std::unique_ptr<BatchApi> batch_;
};

}  // namespace

void register_openai_provider(Registry& registry) {
  registry.add(ProviderType{
      "openai",
      "OpenAI-compatible HTTP API (OpenAI, vLLM, Ollama, llama.cpp): chat, embeddings, batch-line passthrough",
      {{"base_url", KeyKind::string, false, "https://api.openai.com/v1", "the API's base URL"},
       {"api_key_env", KeyKind::string, false, "OPENAI_API_KEY",
        "the environment variable holding the key (\"\" for servers without keys)"},
       {"organization", KeyKind::string, false, "", "sent as OpenAI-Organization"},
       {"project", KeyKind::string, false, "", "sent as OpenAI-Project"},
       {"max_tokens_field", KeyKind::string, false, "max_tokens",
        "the request field for a call's max_tokens (newer OpenAI models want max_completion_tokens)"},
       {"headers", KeyKind::any, false, "", "extra request headers, a table of strings"}},
      [](Options& o) -> std::shared_ptr<Provider> {
        OpenAiSettings s;
        s.base_url = read_base_url(o);
        s.api_key = o.secret("api_key_env");
        s.organization = o.string("organization");
        s.project = o.string("project");
        s.max_tokens_field = o.string("max_tokens_field");
        if (s.max_tokens_field.empty()) o.error("max_tokens_field", "must not be empty");
        s.extra_headers = read_extra_headers(o);
        return std::make_shared<OpenAiProvider>(std::move(s));
      },
      kOpenAiPrices,
      /*remote=*/true,
  });
}

}  // namespace flowbatch
