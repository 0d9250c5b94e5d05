#pragma once
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace flowbatch {

/// Knows every secret of a run (API keys read from the environment) and blanks them out of any
/// text before it is logged, stored on an item or written anywhere.
class Redactor {
 public:
  /// Registers a secret; short values (under 6 characters) are ignored: redacting them would
  /// mangle ordinary text and they are not credible keys.
  void add(std::string secret);
  /// `text` with every registered secret replaced by "[REDACTED]".
  std::string redact(std::string_view text) const;
  bool empty() const;

 private:
  mutable std::shared_mutex mutex_;
  std::vector<std::string> secrets_;
};

}  // namespace flowbatch
