#include "mock_server/prompt_cache.h"

#include <string>

#include "engine/core/hash.h"
#include "mock_server/conversation.h"

namespace flowbatch::mock {
namespace {

/// The text of `content` up to and including its last block marked with cache_control, appended
/// to `prefix`; true when a mark was found.
bool append_marked(const boost::json::value& content, std::string& text, std::string& prefix) {
  const auto* blocks = content.if_array();
  if (!blocks) {
    if (const auto* s = content.if_string()) text += *s;
    return false;
  }
  bool marked = false;
  for (const auto& block : *blocks) {
    const auto* o = block.if_object();
    const auto* t = o ? o->if_contains("text") : nullptr;
    if (t && t->is_string()) text += t->get_string();
    if (o && o->contains("cache_control")) {
      prefix = text;
      marked = true;
    }
  }
  return marked;
}

}  // namespace

bool PromptCache::seen(std::uint64_t hash) {
  std::lock_guard lock(mutex_);
  return !prefixes_.insert(hash).second;
}

PromptCacheUse PromptCache::openai(const boost::json::object& body) {
  const auto* messages = body.if_contains("messages");
  const auto* list = messages ? messages->if_array() : nullptr;
  if (!list || list->empty() || !list->front().is_object()) return {};
  const auto& first = list->front().get_object();
  const auto* role = first.if_contains("role");
  const auto* content = first.if_contains("content");
  if (!role || !role->is_string() || role->get_string() != "system" || !content) return {};
  const auto text = text_of_content(*content);
  if (!text) return {};
  const std::int64_t tokens = estimate_tokens(text->size());
  if (tokens < kMinTokens) return {};
  if (!seen(stable_hash(*text))) return {};  // the first request fills the cache, at no extra cost
  return PromptCacheUse{tokens / 128 * 128, 0};
}

PromptCacheUse PromptCache::anthropic(const boost::json::object& body) {
  std::string text, prefix;
  bool marked = false;
  if (const auto* system = body.if_contains("system")) marked = append_marked(*system, text, prefix) || marked;
  if (const auto* messages = body.if_contains("messages"); messages && messages->is_array())
    for (const auto& m : messages->get_array())
      if (const auto* o = m.if_object(); o && o->contains("content"))
        marked = append_marked(o->at("content"), text, prefix) || marked;
  if (!marked) return {};
  const std::int64_t tokens = estimate_tokens(prefix.size());
  if (tokens < kMinTokens) return {};
  return seen(stable_hash(prefix)) ? PromptCacheUse{tokens, 0} : PromptCacheUse{0, tokens};
}

}  // namespace flowbatch::mock
