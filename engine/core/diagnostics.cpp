#include "engine/core/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>

namespace flowbatch {

std::string Location::str() const {
  if (file.empty()) return "<unknown>";
  if (line == 0) return file;
  if (column == 0) return fmt::format("{}:{}", file, line);
  return fmt::format("{}:{}:{}", file, line, column);
}

std::string Diagnostic::str() const {
  const char* level = severity == Severity::error ? "error" : "warning";
  std::string prefix = where.known() ? where.str() + ": " : std::string();
  if (subject.empty()) return fmt::format("{}{}: {}", prefix, level, message);
  return fmt::format("{}{}: {}: {}", prefix, level, subject, message);
}

void Diagnostics::error(Location where, std::string subject, std::string message) {
  items_.push_back({Severity::error, std::move(where), std::move(subject), std::move(message)});
  ++errors_;
}

void Diagnostics::warning(Location where, std::string subject, std::string message) {
  items_.push_back({Severity::warning, std::move(where), std::move(subject), std::move(message)});
}

std::string Diagnostics::str() const {
  std::vector<const Diagnostic*> sorted;
  sorted.reserve(items_.size());
  for (const auto& d : items_) sorted.push_back(&d);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic* a, const Diagnostic* b) {
    if (a->where.file != b->where.file) return a->where.file < b->where.file;
    if (a->where.line != b->where.line) return a->where.line < b->where.line;
    return a->where.column < b->where.column;
  });
  std::string out;
  for (const auto* d : sorted) {
    out += d->str();
    out += '\n';
  }
  return out;
}

ConfigError::ConfigError(Diagnostics diagnostics)
    : std::runtime_error(diagnostics.str()), diagnostics_(std::move(diagnostics)) {}

}  // namespace flowbatch
