#include "engine/core/redactor.h"

#include <boost/json/object.hpp>

#include <algorithm>
#include <mutex>

#include "engine/core/text.h"

namespace flowbatch {
namespace {

constexpr std::string_view kBlank = "[REDACTED]";

std::string percent_encoded(std::string_view s, const char* hex) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

/// The base64 characters that encode `secret`'s bits alone when it starts `offset` bytes into
/// a 3-byte group (the characters it shares with its neighbours are left out).
std::string base64_core(std::string_view secret, std::size_t offset) {
  const std::string encoded = base64_encode(std::string(offset, '\0') + std::string(secret));
  const std::size_t first = (8 * offset + 5) / 6;               // first character of the secret's bits only
  const std::size_t last = (8 * (offset + secret.size())) / 6;  // one past the last
  return encoded.substr(first, last - first);
}

std::string url_safe(std::string s) {
  std::replace(s.begin(), s.end(), '+', '-');
  std::replace(s.begin(), s.end(), '/', '_');
  return s;
}

bool continues_a_key(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

void replace_all(std::string& out, std::string_view what) {
  std::size_t pos = 0;
  while ((pos = out.find(what, pos)) != std::string::npos) {
    out.replace(pos, what.size(), kBlank);
    pos += kBlank.size();
  }
}

}  // namespace

std::vector<std::string> encoded_forms(std::string_view secret) {
  std::vector<std::string> forms = {percent_encoded(secret, "0123456789ABCDEF"),
                                    percent_encoded(secret, "0123456789abcdef")};
  for (std::size_t offset = 0; offset < 3; ++offset) {
    forms.push_back(base64_core(secret, offset));
    forms.push_back(url_safe(forms.back()));
  }
  std::erase_if(forms, [&](const std::string& f) { return f == secret || f.size() < Redactor::kMinLength; });
  std::sort(forms.begin(), forms.end());
  forms.erase(std::unique(forms.begin(), forms.end()), forms.end());
  return forms;
}

Redactor::Added Redactor::add(std::string secret) {
  std::unique_lock lock(mutex_);
  if (secret.size() < kMinLength) {
    if (std::find(too_short_.begin(), too_short_.end(), secret) != too_short_.end()) return Added::too_short_again;
    too_short_.push_back(std::move(secret));
    return Added::too_short;
  }
  if (std::find(secrets_.begin(), secrets_.end(), secret) != secrets_.end()) return Added::known;
  for (auto& form : encoded_forms(secret)) forms_.push_back(std::move(form));
  forms_.push_back(secret);
  secrets_.push_back(std::move(secret));
  // Longest first, so a secret that contains another is blanked whole.
  std::stable_sort(forms_.begin(), forms_.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return Added::yes;
}

std::string Redactor::redact(std::string_view text) const {
  std::string out(text);
  std::shared_lock lock(mutex_);
  if (secrets_.empty()) return out;
  for (const auto& form : forms_) replace_all(out, form);
  blank_prefixes(out);
  return out;
}

/// A secret's first kMinPrefix or more characters that stop where the secret does not (the text
/// ends, or goes on with something a key would not: "...", a quote, a space) are what is left of
/// it after a cut. One that goes on with a letter or digit is another key sharing a prefix.
void Redactor::blank_prefixes(std::string& out) const {
  for (const auto& secret : secrets_) {
    if (secret.size() <= kMinPrefix) continue;
    const std::string_view start(secret.data(), kMinPrefix);
    std::size_t pos = 0;
    while ((pos = out.find(start, pos)) != std::string::npos) {
      std::size_t n = kMinPrefix;
      while (n < secret.size() && pos + n < out.size() && out[pos + n] == secret[n]) ++n;
      if (pos + n < out.size() && continues_a_key(out[pos + n])) {
        pos += 1;
        continue;
      }
      out.replace(pos, n, kBlank);
      pos += kBlank.size();
    }
  }
}

std::string Redactor::redact_and_cut(std::string_view text, std::size_t max) const {
  std::string out = redact(text);
  if (out.size() <= max) return out;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
  out.resize(cut);
  return out + "...";
}

void Redactor::redact_json(boost::json::value& value) const {
  if (empty()) return;
  if (auto* s = value.if_string()) {
    std::string redacted = redact(*s);
    if (redacted != std::string_view(*s)) *s = redacted;
  } else if (auto* a = value.if_array()) {
    for (auto& v : *a) redact_json(v);
  } else if (auto* o = value.if_object()) {
    bool keys_changed = false;
    for (auto& kv : *o) {
      redact_json(kv.value());
      keys_changed = keys_changed || redact(kv.key()) != std::string_view(kv.key());
    }
    if (!keys_changed) return;  // the usual case: keys are field names
    boost::json::object rebuilt;
    for (auto& kv : *o) rebuilt[redact(kv.key())] = std::move(kv.value());
    *o = std::move(rebuilt);
  }
}

bool Redactor::empty() const {
  std::shared_lock lock(mutex_);
  return secrets_.empty();
}

}  // namespace flowbatch
