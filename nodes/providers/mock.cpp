// type = "mock": an in-process simulated LLM. No network and no key; every answer, latency and
// failure is derived from the request itself, so runs are reproducible and tests can check that
// each result belongs to its item. It rejects what a real API rejects (an empty prompt, one over
// max_prompt_chars) as invalid_request.
#include <fmt/format.h>
#include <boost/json/serialize.hpp>

#include <cmath>

#include "engine/core/hash.h"
#include "engine/core/text.h"
#include "engine/core/tokens.h"
#include "nodes/calls/pack_format.h"
#include "nodes/calls/pack_simulation.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

struct MockSettings {
  double latency_ms = 0;
  double latency_sigma = 0.5;
  double failure_rate = 0;
  double rate_limit_rate = 0;
  std::int64_t retry_after_ms = 1000;
  std::int64_t max_prompt_chars = 32000;
  std::vector<std::string> replies;
  std::uint64_t seed = 0;
  std::int64_t embedding_dims = 8;
  pack::PackFaults pack_faults;
};

class MockProvider final : public Provider {
 public:
  explicit MockProvider(MockSettings s) : s_(std::move(s)) {}

  bool supports(Endpoint) const override { return true; }

  Dispatch dispatch(const CallRequest& request) override {
    std::size_t prompt_chars = 0;
    const std::uint64_t h = fingerprint(request, prompt_chars);
    const auto delay = latency(hash_combine(h, request.attempt));
    if (auto problem = reject(request, prompt_chars))
      return Dispatch::respond(failed(ErrorClass::invalid_request, 400, *problem, h), delay);

    const double roll = unit_interval(hash_combine(h, 0x5eed0000ULL + request.attempt));
    if (roll < s_.rate_limit_rate) {
      CallResult r = failed(ErrorClass::rate_limit, 429, "simulated rate limit: too many requests", h);
      r.failure->retry_after_ms = s_.retry_after_ms;
      return Dispatch::respond(std::move(r), delay);
    }
    if (roll < s_.rate_limit_rate + s_.failure_rate)
      return Dispatch::respond(failed(ErrorClass::server, 503, "simulated server error: overloaded", h), delay);
    return Dispatch::respond(answer(request, prompt_chars, h), delay);
  }

 private:
  /// A hash of everything the model would read (what every simulated outcome is a function of),
  /// and how many characters that is.
  std::uint64_t fingerprint(const CallRequest& r, std::size_t& chars) const {
    std::uint64_t h = stable_hash(r.model, s_.seed);
    auto add = [&](std::string_view part) {
      h = stable_hash(part, h);
      chars += part.size();
    };
    switch (r.endpoint) {
      case Endpoint::chat:
        for (const auto& m : r.messages) {
          add(m.role);
          add(m.content);
        }
        break;
      case Endpoint::embeddings:
        for (const auto& input : r.inputs) add(input);
        break;
      case Endpoint::passthrough: add(boost::json::serialize(r.body)); break;
    }
    return h;
  }

  std::optional<std::string> reject(const CallRequest& r, std::size_t prompt_chars) const {
    if (r.endpoint == Endpoint::chat) {
      const std::string& user = r.messages.back().content;
      if (trim(user).empty()) return "the prompt is empty";
    }
    if (r.endpoint == Endpoint::embeddings)
      for (const auto& input : r.inputs)
        if (trim(input).empty()) return "an input is empty";
    if (static_cast<std::int64_t>(prompt_chars) > s_.max_prompt_chars)
      return fmt::format("the prompt is {} characters; the maximum is {}", prompt_chars, s_.max_prompt_chars);
    return std::nullopt;
  }

  std::chrono::milliseconds latency(std::uint64_t h) const {
    if (s_.latency_ms <= 0) return std::chrono::milliseconds(0);
    // Lognormal with the configured mean: mu = ln(mean) - sigma^2 / 2.
    const double u1 = std::max(unit_interval(h), 1e-12);
    const double u2 = unit_interval(hash_combine(h, 1));
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
    const double mu = std::log(s_.latency_ms) - s_.latency_sigma * s_.latency_sigma / 2.0;
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::exp(mu + s_.latency_sigma * z)));
  }

  static CallResult failed(ErrorClass c, int status, std::string message, std::uint64_t h) {
    CallResult r;
    r.failure = make_failure(c, std::move(message));
    r.failure->http_status = status;
    r.failure->request_id = "mock-" + hex16(h);
    r.http_status = status;
    r.request_id = r.failure->request_id;
    return r;
  }

  std::string reply_text(std::uint64_t h) const {
    if (!s_.replies.empty()) return s_.replies[h % s_.replies.size()];
    return "mock reply " + hex16(h);
  }

  CallResult answer(const CallRequest& r, std::size_t prompt_chars, std::uint64_t h) const {
    CallResult result;
    result.http_status = 200;
    result.request_id = "mock-" + hex16(h);
    result.finish_reason = "stop";
    result.usage.input_tokens = estimate_tokens(prompt_chars);
    switch (r.endpoint) {
      case Endpoint::chat: {
        std::string text = reply_text(h);
        if (auto packed = answer_pack(r, h)) {
          text = std::move(packed->text);
          if (packed->cut) result.finish_reason = "length";
        }
        result.usage.output_tokens = estimate_tokens(text.size());
        result.outputs.emplace_back(std::move(text));
        break;
      }
      case Endpoint::embeddings:
        for (const auto& input : r.inputs) result.outputs.emplace_back(embedding(stable_hash(input, s_.seed)));
        break;
      case Endpoint::passthrough: {
        std::string text = reply_text(h);
        result.usage.output_tokens = estimate_tokens(text.size());
        boost::json::object body{
            {"id", result.request_id},
            {"object", "chat.completion"},
            {"model", r.body.as_object().contains("model") ? r.body.at("model") : boost::json::value("mock")},
            {"choices", boost::json::array{boost::json::object{
                            {"index", 0},
                            {"message", boost::json::object{{"role", "assistant"}, {"content", text}}},
                            {"finish_reason", "stop"}}}},
            {"usage", boost::json::object{{"prompt_tokens", result.usage.input_tokens},
                                          {"completion_tokens", result.usage.output_tokens},
                                          {"total_tokens", result.usage.input_tokens + result.usage.output_tokens}}}};
        result.outputs.emplace_back(std::move(body));
        break;
      }
    }
    return result;
  }

  /// A packed prompt is answered item by item, each answer a function of the model and that
  /// item's input alone (so it is the same in any pack, at any place), with the configured faults.
  std::optional<pack::PackedReply> answer_pack(const CallRequest& r, std::uint64_t h) const {
    const ChatMessage* user = nullptr;
    for (const auto& m : r.messages)
      if (m.role == "user") user = &m;
    if (!user || user->content.find(pack::kInputsMarker) == std::string::npos) return std::nullopt;
    const std::string_view prefill =
        r.messages.back().role == "assistant" ? std::string_view(r.messages.back().content) : std::string_view();
    const std::uint64_t model = stable_hash(r.model, s_.seed);
    auto answer_of = [&](std::string_view input, bool json) -> boost::json::value {
      const std::uint64_t item = hash_combine(model, stable_hash(input));
      if (json) return boost::json::object{{"reply", hex16(item)}, {"chars", input.size()}};
      return boost::json::string(reply_text(item));
    };
    auto roll = [&](std::uint64_t n) { return unit_interval(hash_combine(h, 0x9ac4000ULL + n * 131 + r.attempt)); };
    const std::size_t max_chars = r.max_tokens ? static_cast<std::size_t>(*r.max_tokens) * 4 : 0;
    return pack::answer_packed(user->content, answer_of, s_.pack_faults, roll, max_chars, prefill);
  }

  boost::json::array embedding(std::uint64_t h) const {
    boost::json::array v;
    for (std::int64_t i = 0; i < s_.embedding_dims; ++i)
      v.emplace_back(std::round((unit_interval(hash_combine(h, static_cast<std::uint64_t>(i))) * 2.0 - 1.0) * 1e6) /
                     1e6);
    return v;
  }

  MockSettings s_;
};

double rate(Options& o, std::string_view key) {
  const double v = o.number(key);
  if (v < 0 || v > 1) o.error(key, "must be between 0 and 1");
  return v;
}

}  // namespace

void register_mock_provider(Registry& registry) {
  registry.add(ProviderType{
      "mock",
      "an in-process simulated LLM: no network, no key, deterministic per request",
      {{"latency_ms", KeyKind::number, false, "0", "mean simulated latency (lognormal)"},
       {"latency_sigma", KeyKind::number, false, "0.5", "spread of the lognormal latency"},
       {"failure_rate", KeyKind::number, false, "0", "share of attempts failing like a 5xx (retryable)"},
       {"rate_limit_rate", KeyKind::number, false, "0", "share of attempts answered like a 429 (retryable)"},
       {"retry_after_ms", KeyKind::integer, false, "1000", "the Retry-After hint of simulated 429s"},
       {"max_prompt_chars", KeyKind::integer, false, "32000", "longer prompts are rejected as invalid_request"},
       {"replies", KeyKind::string_list, false, "", "answers to pick from (by a hash of the prompt)"},
       {"seed", KeyKind::integer, false, "0", "changes every simulated answer, latency and failure"},
       {"embedding_dims", KeyKind::integer, false, "8", "length of simulated embeddings"},
       {"pack_drop_rate", KeyKind::number, false, "0", "share of packed answers leaving one item out"},
       {"pack_duplicate_rate", KeyKind::number, false, "0", "share of packed answers answering one item twice"},
       {"pack_foreign_rate", KeyKind::number, false, "0", "share of packed answers adding an id that was not asked"},
       {"pack_shuffle_rate", KeyKind::number, false, "0", "share of packed answers in another order than asked"},
       {"pack_cut_rate", KeyKind::number, false, "0", "share of packed answers cut short (finish reason length)"}},
      [](Options& o) -> std::shared_ptr<Provider> {
        MockSettings s;
        s.latency_ms = o.number("latency_ms");
        if (s.latency_ms < 0) o.error("latency_ms", "must not be negative");
        s.latency_sigma = o.number("latency_sigma");
        if (s.latency_sigma < 0) o.error("latency_sigma", "must not be negative");
        s.failure_rate = rate(o, "failure_rate");
        s.rate_limit_rate = rate(o, "rate_limit_rate");
        s.retry_after_ms = o.integer("retry_after_ms");
        s.max_prompt_chars = o.integer("max_prompt_chars");
        if (s.max_prompt_chars < 1) o.error("max_prompt_chars", "must be at least 1");
        s.replies = o.strings("replies");
        s.seed = static_cast<std::uint64_t>(o.integer("seed"));
        s.embedding_dims = o.integer("embedding_dims");
        if (s.embedding_dims < 1) o.error("embedding_dims", "must be at least 1");
        s.pack_faults = pack::PackFaults{.drop = rate(o, "pack_drop_rate"),
                                         .duplicate = rate(o, "pack_duplicate_rate"),
                                         .foreign = rate(o, "pack_foreign_rate"),
                                         .shuffle = rate(o, "pack_shuffle_rate"),
                                         .cut = rate(o, "pack_cut_rate")};
        return std::make_shared<MockProvider>(std::move(s));
      },
      // A simulation costs nothing; a graph may give it prices to rehearse a budget.
      R"({"models": {"*": {"input": 0, "output": 0}}})",
  });
}

}  // namespace flowbatch
