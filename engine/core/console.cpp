#include "engine/core/console.h"

#include <unistd.h>

namespace flowbatch {

Console::Console(const Redactor& redactor, std::FILE* out)
    : redactor_(redactor), out_(out), tty_(::isatty(::fileno(out)) == 1) {}

void Console::erase_status_locked() {
  if (!tty_ || status_.empty()) return;
  std::fputs("\r\033[2K", out_);
}

void Console::log(LogLevel level, std::string_view prefix, std::string_view message) {
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  const std::string line = redactor_.redact(message);
  std::lock_guard lock(mutex_);
  erase_status_locked();
  if (prefix.empty()) std::fprintf(out_, "%s: %s\n", kNames[static_cast<int>(level)], line.c_str());
  else
    std::fprintf(out_, "%s: [%.*s] %s\n", kNames[static_cast<int>(level)], static_cast<int>(prefix.size()),
                 prefix.data(), line.c_str());
  if (tty_ && !status_.empty()) std::fputs(status_.c_str(), out_);
  std::fflush(out_);
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
  const std::string clean = redactor_.redact(text);
  std::lock_guard lock(mutex_);
  erase_status_locked();
  std::fputs(clean.c_str(), out_);
  if (tty_ && !status_.empty()) std::fputs(status_.c_str(), out_);
  std::fflush(out_);
}

}  // namespace flowbatch
