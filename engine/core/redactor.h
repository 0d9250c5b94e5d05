#pragma once
#include <boost/json/value.hpp>

#include <cstddef>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace flowbatch {

/// Knows every secret of a run (API keys read from the environment, values expanded into headers
/// and URLs) and blanks them out of any text before it is logged, stored on an item or written
/// anywhere. Servers echo keys in other forms than the one sent (OpenAI's 401 quotes it; a proxy
/// may URL-encode or base64 it; a cut-off message leaves its start), so each of those is blanked too.
class Redactor {
 public:
  /// Values shorter than this are not redacted: blanking "abc" everywhere would mangle ordinary
  /// text, so such a key is left visible (add() says so, for the caller to warn).
  static constexpr std::size_t kMinLength = 6;
  /// A secret's start this long or longer, cut off (end of text, "...", punctuation), is blanked:
  /// a message truncated in the middle of a key still gives most of it away.
  static constexpr std::size_t kMinPrefix = 8;

  /// How much of a failure message is kept, after redaction (a server's error body can be long).
  static constexpr std::size_t kMaxMessageBytes = 1000;

  enum class Added { yes, known, too_short, too_short_again };
  /// Registers a secret. `too_short` is returned once per value (then `too_short_again`), so
  /// that a key used by several providers is warned about once.
  Added add(std::string secret);
  /// `text` with every registered secret (and its encoded forms and cut-off prefixes) replaced
  /// by "[REDACTED]".
  std::string redact(std::string_view text) const;
  /// Redacts, then cuts to at most `max` bytes (at a UTF-8 boundary, "..." appended). Never the
  /// other way round: a cut through a key leaves a start that the full key no longer matches.
  std::string redact_and_cut(std::string_view text, std::size_t max) const;
  /// Redacts every string (and object key) inside `value`.
  void redact_json(boost::json::value& value) const;
  bool empty() const;

 private:
  void blank_prefixes(std::string& out) const;

  mutable std::shared_mutex mutex_;
  std::vector<std::string> secrets_;    // as given
  std::vector<std::string> forms_;      // every form of every secret, longest first
  std::vector<std::string> too_short_;  // already reported
};

/// The forms a secret may be echoed in besides itself: percent-encoded (upper and lower case hex)
/// and base64 / base64url at each of the three alignments it can have inside a longer encoded
/// text (only the characters that depend on the secret alone).
std::vector<std::string> encoded_forms(std::string_view secret);

}  // namespace flowbatch
