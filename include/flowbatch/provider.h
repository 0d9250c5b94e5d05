#pragma once
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "flowbatch/item.h"

namespace flowbatch {

/// What a call asks of the provider.
enum class Endpoint : std::uint8_t {
  chat,         ///< a chat/messages completion built from `messages`
  embeddings,   ///< one embedding per entry of `inputs` (a whole batch in one request)
  passthrough,  ///< a prepared request body sent to `url_path` as is (OpenAI Batch API lines)
};

constexpr std::string_view to_string(Endpoint e) {
  switch (e) {
    case Endpoint::chat: return "chat";
    case Endpoint::embeddings: return "embeddings";
    case Endpoint::passthrough: return "passthrough";
  }
  return "unknown";
}

struct ChatMessage {
  std::string role;  ///< "system", "user" or "assistant"
  std::string content;
  /// The first this-many bytes of `content` are the same in every request of the call (a packed
  /// request's instructions): a prompt cache may end there. A system message is shared whole.
  std::size_t shared_prefix = 0;
};

/// One request, provider-neutral. Built by the call node on a worker thread.
struct CallRequest {
  Endpoint endpoint = Endpoint::chat;
  std::string model;
  std::vector<ChatMessage> messages;  ///< chat: the system message (if any) comes first
  std::vector<std::string> inputs;    ///< embeddings: one input per item
  std::optional<double> temperature;
  std::optional<std::int64_t> max_tokens;
  boost::json::value response_format;  ///< null when unset; else OpenAI's response_format object
  std::string method = "POST";         ///< passthrough
  std::string url_path;                ///< passthrough: e.g. "/v1/chat/completions"
  boost::json::value body;             ///< passthrough: the request body
  std::span<const Item* const> items;  ///< the items this request answers, in output order
  std::uint32_t attempt = 1;           ///< 1 for the first try
  std::int64_t estimated_tokens = 0;   ///< prompt + max output tokens, estimated before sending
  std::string prompt_cache_key;        ///< sent as OpenAI's prompt_cache_key when set (the call's key)

  /// The prompt's part of estimated_tokens (what a provider's batch queue counts; what a request
  /// not sent would have cost in).
  std::int64_t estimated_prompt_tokens() const {
    const std::int64_t prompt = estimated_tokens - max_tokens.value_or(0);
    return prompt > 0 ? prompt : 0;
  }
};

/// What a request used, as the provider reports it. `input_tokens` counts every prompt token,
/// those read from or written to the provider's prompt cache included (they are priced apart).
struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cached_input_tokens = 0;  ///< of the input, read from the provider's prompt cache
  std::int64_t cache_write_tokens = 0;   ///< of the input, written to the prompt cache (Anthropic)
};

/// What a server said about its rate limits in one response (x-ratelimit-* and the like). The
/// engine's rate gate uses it to slow down before a 429, and to adopt a lower limit than the
/// graph configures.
struct RateLimitSignals {
  std::optional<double> limit_requests;  ///< per minute
  std::optional<double> remaining_requests;
  std::optional<std::chrono::milliseconds> reset_requests;  ///< until that budget is full again
  std::optional<double> limit_tokens;                       ///< per minute
  std::optional<double> remaining_tokens;
  std::optional<std::chrono::milliseconds> reset_tokens;
  std::optional<std::chrono::milliseconds> retry_after;  ///< Retry-After / retry-after-ms
  std::optional<bool> should_retry;                      ///< x-should-retry: the server's word on retrying
};

/// The outcome of one request.
struct CallResult {
  std::optional<Failure> failure;           ///< set when the request failed as a whole
  std::vector<boost::json::value> outputs;  ///< on success, one per item (text, or an embedding)
  boost::json::value body;                  ///< the response body (passthrough outputs keep it whole)
  Usage usage;
  std::string finish_reason;  ///< "stop", "length", "content_filter", ...
  std::string request_id;
  int http_status = 0;
  RateLimitSignals rate;  ///< what the server said about its limits
};

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<HttpHeader> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;                   ///< 0 when no response arrived (see transport_error)
  std::vector<HttpHeader> headers;  ///< names lower-cased
  std::string body;
  std::optional<Failure> transport_error;  ///< time-out or network failure, already classified
  bool could_not_connect = false;          ///< refused, a name that does not resolve, TLS that fails: nothing went out
  double seconds = 0;                      ///< total time of the transfer

  /// The first header with that (lower-case) name, or nullptr.
  const std::string* header(std::string_view lower_name) const {
    for (const auto& h : headers)
      if (h.name == lower_name) return &h.value;
    return nullptr;
  }
};

/// How a provider carries out a request; the engine owns every thread, timer and socket.
struct Dispatch {
  enum class Kind : std::uint8_t { http, immediate, blocking };
  Kind kind = Kind::immediate;
  HttpRequest http;   ///< http: sent by the engine, then handed to parse()
  CallResult result;  ///< immediate: delivered after `delay`
  std::chrono::milliseconds delay{0};
  std::function<CallResult()> work;  ///< blocking: run on the engine's blocking pool

  static Dispatch send(HttpRequest request) {
    Dispatch d;
    d.kind = Kind::http;
    d.http = std::move(request);
    return d;
  }
  static Dispatch respond(CallResult result, std::chrono::milliseconds delay = {}) {
    Dispatch d;
    d.kind = Kind::immediate;
    d.result = std::move(result);
    d.delay = delay;
    return d;
  }
  static Dispatch run(std::function<CallResult()> work) {
    Dispatch d;
    d.kind = Kind::blocking;
    d.work = std::move(work);
    return d;
  }
};

class BatchApi;

/// A configured provider ([providers.NAME]), shared by every call node that names it.
/// Both methods are called concurrently from worker threads and must not block.
class Provider {
 public:
  virtual ~Provider() = default;
  virtual bool supports(Endpoint endpoint) const = 0;
  /// Turns a request into its wire form (or answers it).
  virtual Dispatch dispatch(const CallRequest& request) = 0;
  /// Reads the HTTP response of a Dispatch::send. Classifies failures; never throws for bad input.
  virtual CallResult parse(const CallRequest& request, const HttpResponse& response) {
    (void)request;
    (void)response;
    CallResult r;
    r.failure = make_failure(ErrorClass::parse, "provider does not parse HTTP responses");
    return r;
  }
  /// The provider's batch API (flowbatch/batch.h), or nullptr when it has none: calls with
  /// mode = "batch" or "auto" need one. Owned by the provider.
  virtual const BatchApi* batch_api() const { return nullptr; }
};

}  // namespace flowbatch
