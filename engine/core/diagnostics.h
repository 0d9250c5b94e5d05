#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace flowbatch {

/// A place in a configuration file (or on the command line, for --set overrides).
struct Location {
  std::string file;          ///< path as the user gave it, or "--set"
  std::uint32_t line = 0;    ///< 1-based; 0 when unknown
  std::uint32_t column = 0;  ///< 1-based; 0 when unknown

  bool known() const { return !file.empty(); }
  /// "graph.toml:14:5", "graph.toml", or "--set pipeline.max_in_flight"
  std::string str() const;
};

enum class Severity : std::uint8_t { error, warning };

/// One finding about a configuration: where, about which key, and what is wrong.
struct Diagnostic {
  Severity severity = Severity::error;
  Location where;
  std::string subject;  ///< the dotted key it is about: "calls.classify.max_tokens"
  std::string message;

  /// "graph.toml:14:5: error: calls.classify.max_tokens: must be at least 1"
  std::string str() const;
};

/// Collects every finding of a pass, so users see all problems at once, not just the first.
class Diagnostics {
 public:
  void error(Location where, std::string subject, std::string message);
  void warning(Location where, std::string subject, std::string message);
  void add(Diagnostic d) { items_.push_back(std::move(d)); }

  bool has_errors() const { return errors_ > 0; }
  std::size_t error_count() const { return errors_; }
  std::size_t warning_count() const { return items_.size() - errors_; }
  const std::vector<Diagnostic>& items() const { return items_; }

  /// All findings, one per line, in file order (errors and warnings interleaved).
  std::string str() const;

 private:
  std::vector<Diagnostic> items_;
  std::size_t errors_ = 0;
};

/// Thrown when a configuration cannot be used; carries every finding of the pass.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(Diagnostics diagnostics);
  const Diagnostics& diagnostics() const { return diagnostics_; }

 private:
  Diagnostics diagnostics_;
};

}  // namespace flowbatch
