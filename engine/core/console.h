#pragma once
#include <fmt/format.h>

#include <boost/json/object.hpp>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/core/redactor.h"

namespace flowbatch {

enum class LogLevel : std::uint8_t { debug, info, warn, error };
std::string_view to_string(LogLevel level);

/// How log lines look: for people (the default), or one JSON object per line for log shippers
/// (`--log-format json`: time, level, kind, node, message, fields).
enum class LogFormat : std::uint8_t { human, json };

/// The one writer of the terminal (stderr): log lines and the live status line share it, so a
/// log line never tears the status line. Everything written is redacted first.
class Console {
 public:
  explicit Console(const Redactor& redactor, std::FILE* out = stderr);

  /// A terminal that shows a live status line (never in JSON format).
  bool is_tty() const { return tty_; }
  void set_level(LogLevel level) { level_ = level; }
  bool enabled(LogLevel level) const { return level >= level_; }
  /// Set before anything is written. JSON lines name the run's own lines after `job`.
  void set_format(LogFormat format, std::string job = "");
  LogFormat format() const { return format_; }

  /// A line from `prefix` ("call:classify", "provider:openai", or "" for the run itself).
  void log(LogLevel level, std::string_view prefix, std::string_view message);
  /// The same with machine-readable fields: shown in JSON format only.
  void log(LogLevel level, std::string_view prefix, std::string_view message, const boost::json::object& fields);
  /// Replaces the live status line (terminals only; a no-op elsewhere).
  void status(std::string_view line);
  void clear_status();
  /// Plain text (summaries, reports), redacted; in JSON format, one info line of the run.
  void print(std::string_view text);

 private:
  void erase_status_locked();
  /// {"time", "level", "kind", "node", "message", "fields"}: the line in JSON format.
  std::string json_line(LogLevel level, std::string_view prefix, std::string_view message,
                        const boost::json::object& fields) const;
  void write_locked(const std::string& text);

  const Redactor& redactor_;
  std::FILE* out_;
  bool tty_;
  LogLevel level_ = LogLevel::info;
  LogFormat format_ = LogFormat::human;
  std::string job_;
  std::mutex mutex_;
  std::string status_;
};

/// Logs on behalf of one component; every line names it: "[call:classify] ...".
class Logger {
 public:
  Logger(Console& console, std::string prefix) : console_(&console), prefix_(std::move(prefix)) {}

  template <class... Args>
  void debug(fmt::format_string<Args...> f, Args&&... args) const {
    write(LogLevel::debug, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void info(fmt::format_string<Args...> f, Args&&... args) const {
    write(LogLevel::info, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void warn(fmt::format_string<Args...> f, Args&&... args) const {
    write(LogLevel::warn, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void error(fmt::format_string<Args...> f, Args&&... args) const {
    write(LogLevel::error, f, std::forward<Args>(args)...);
  }

 private:
  template <class... Args>
  void write(LogLevel level, fmt::format_string<Args...> f, Args&&... args) const {
    if (!console_->enabled(level)) return;
    console_->log(level, prefix_, fmt::format(f, std::forward<Args>(args)...));
  }

  Console* console_;
  std::string prefix_;
};

}  // namespace flowbatch
