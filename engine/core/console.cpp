#include "engine/core/console.h"

#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <chrono>

#include "engine/core/text.h"

namespace flowbatch {
namespace {

/// `value` with every secret taken out of its strings, before they are escaped: a secret with a
/// quote or a backslash in it would hide from the redactor in its escaped form.
boost::json::value redacted(const boost::json::value& value, const Redactor& redactor) {
  if (value.is_string()) return boost::json::string(redactor.redact(value.get_string()));
  if (value.is_array()) {
    boost::json::array out;
    for (const auto& v : value.get_array()) out.push_back(redacted(v, redactor));
    return out;
  }
  if (value.is_object()) {
    boost::json::object out;
    for (const auto& [k, v] : value.get_object()) out[k] = redacted(v, redactor);
    return out;
  }
  return value;
}

}  // namespace

std::string_view to_string(LogLevel level) {
  static constexpr std::string_view kNames[] = {"debug", "info", "warn", "error"};
  return kNames[static_cast<int>(level)];
}

Console::Console(const Redactor& redactor, std::FILE* out)
    : redactor_(redactor), out_(out), tty_(::isatty(::fileno(out)) == 1) {}

void Console::set_format(LogFormat format, std::string job) {
  format_ = format;
  job_ = std::move(job);
  if (format == LogFormat::json) tty_ = false;  // a log shipper reads every byte: no status line to redraw
}

void Console::erase_status_locked() {
  if (!tty_ || status_.empty()) return;
  std::fputs("\r\033[2K", out_);
}

void Console::write_locked(const std::string& text) {
  erase_status_locked();
  std::fputs(text.c_str(), out_);
  if (tty_ && !status_.empty()) std::fputs(status_.c_str(), out_);
  std::fflush(out_);
}

std::string Console::json_line(LogLevel level, std::string_view prefix, std::string_view message,
                               const boost::json::object& fields) const {
  std::string_view kind = "pipeline", node = job_.empty() ? std::string_view("flowbatch") : std::string_view(job_);
  if (const auto colon = prefix.find(':'); colon != std::string_view::npos) {
    kind = prefix.substr(0, colon);
    node = prefix.substr(colon + 1);
  } else if (!prefix.empty()) {
    kind = prefix;
  }
  const boost::json::object line{
      {"time", utc_now_text(true)}, {"level", to_string(level)},           {"kind", kind}, {"node", node},
      {"message", message},         {"fields", boost::json::value(fields)}};
  return boost::json::serialize(line) + "\n";
}

void Console::log(LogLevel level, std::string_view prefix, std::string_view message) {
  log(level, prefix, message, {});
}

void Console::log(LogLevel level, std::string_view prefix, std::string_view message,
                  const boost::json::object& fields) {
  std::string text;
  if (format_ == LogFormat::json) {
    const boost::json::value clean = redacted(fields, redactor_);
    text = json_line(level, prefix, redactor_.redact(message), clean.get_object());
  } else {
    const std::string line = redactor_.redact(message);
    text = prefix.empty() ? fmt::format("{}: {}\n", to_string(level), line)
                          : fmt::format("{}: [{}] {}\n", to_string(level), prefix, line);
  }
  std::lock_guard lock(mutex_);
  write_locked(text);
}

void Console::status(std::string_view line) {
  if (!tty_) return;
  std::lock_guard lock(mutex_);
  erase_status_locked();
  status_ = redactor_.redact(line);
  std::fputs(status_.c_str(), out_);
  std::fflush(out_);
}

void Console::clear_status() {
  std::lock_guard lock(mutex_);
  erase_status_locked();
  status_.clear();
  std::fflush(out_);
}

void Console::print(std::string_view text) {
  if (format_ == LogFormat::json) {
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    log(LogLevel::info, "", text);
    return;
  }
  const std::string clean = redactor_.redact(text);
  std::lock_guard lock(mutex_);
  write_locked(clean);
}

}  // namespace flowbatch
