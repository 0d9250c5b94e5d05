#pragma once
// The providers' prompt caches, simulated: a prompt prefix seen before is read from the cache at
// a discount. OpenAI caches automatically (the system prompt here, when it is 1,024 tokens or
// more, in steps of 128 tokens); Anthropic caches what a cache_control mark ends (written the
// first time, read afterwards). Thread-safe: every connection's requests share it.
#include <boost/json/object.hpp>

#include <cstdint>
#include <mutex>
#include <unordered_set>

namespace flowbatch::mock {

/// Of a request's prompt tokens, what came from the cache and what was written to it.
struct PromptCacheUse {
  std::int64_t read = 0;
  std::int64_t written = 0;
};

class PromptCache {
 public:
  static constexpr std::int64_t kMinTokens = 1024;
  /// OpenAI's chat body: its leading system message.
  PromptCacheUse openai(const boost::json::object& body);
  /// Anthropic's messages body: the text up to the last cache_control mark (system, then messages).
  PromptCacheUse anthropic(const boost::json::object& body);

 private:
  /// Whether a prefix of `chars` characters hashing to `hash` was seen before (and now is).
  bool seen(std::uint64_t hash);
  std::mutex mutex_;
  std::unordered_set<std::uint64_t> prefixes_;  // guarded by mutex_
};

}  // namespace flowbatch::mock
