#include "engine/core/run_window.h"

#include <fmt/format.h>

#include <charconv>
#include <ctime>

namespace flowbatch {
namespace {

constexpr std::int64_t kDay = std::int64_t{24} * 60 * 60;

/// "HH:MM" or "HH:MM:SS" → seconds after midnight.
std::optional<int> parse_clock(std::string_view text) {
  if ((text.size() != 5 && text.size() != 8) || text[2] != ':' || (text.size() == 8 && text[5] != ':'))
    return std::nullopt;
  int part[3] = {0, 0, 0};
  for (std::size_t i = 0; i * 3 < text.size(); ++i)
    if (std::from_chars(text.data() + i * 3, text.data() + i * 3 + 2, part[i]).ec != std::errc()) return std::nullopt;
  if (part[0] > 23 || part[1] > 59 || part[2] > 59 || part[0] < 0 || part[1] < 0 || part[2] < 0) return std::nullopt;
  return part[0] * 3600 + part[1] * 60 + part[2];
}

/// "" (local), "UTC", "UTC+02:00", "+02:00", "-05:30".
bool parse_zone(std::string_view zone, RunWindow& w) {
  if (zone.empty()) return true;
  if (zone.starts_with("UTC")) zone.remove_prefix(3);
  if (zone.empty()) {
    w.utc_offset_minutes = 0;
    return true;
  }
  if (zone[0] != '+' && zone[0] != '-') return false;
  const auto seconds = parse_clock(zone.substr(1));
  if (zone.size() != 6 || !seconds || *seconds > 14 * 3600) return false;
  w.utc_offset_minutes = (zone[0] == '-' ? -*seconds : *seconds) / 60;
  return true;
}

std::int64_t local_offset_seconds(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm.tm_gmtoff;
}

std::string clock_text(int seconds) {
  if (seconds % 60 != 0) return fmt::format("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
  return fmt::format("{:02}:{:02}", seconds / 3600, seconds / 60 % 60);
}

}  // namespace

std::optional<RunWindow> parse_run_window(std::string_view text, std::string& why) {
  RunWindow w;
  const auto dash = text.find('-');
  const auto space = text.find(' ');
  const auto start = parse_clock(text.substr(0, dash));
  const auto end = dash == std::string_view::npos ? std::nullopt : parse_clock(text.substr(dash + 1, space - dash - 1));
  if (!start || !end) {
    why =
        "must be \"HH:MM-HH:MM\" (24-hour clock, seconds optional), optionally followed by \" UTC\" or \" UTC+HH:MM\"";
    return std::nullopt;
  }
  if (*start == *end) {
    why = "starts where it ends: leave window out to run at any time";
    return std::nullopt;
  }
  w.start_second = *start;
  w.end_second = *end;
  if (!parse_zone(space == std::string_view::npos ? "" : text.substr(space + 1), w)) {
    why = "the time zone must be UTC, UTC+HH:MM or UTC-HH:MM (or nothing: the machine's local time)";
    return std::nullopt;
  }
  return w;
}

std::chrono::seconds RunWindow::until_open(std::chrono::system_clock::time_point now) const {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const std::int64_t offset = utc_offset_minutes ? std::int64_t{*utc_offset_minutes} * 60 : local_offset_seconds(t);
  const std::int64_t second = ((static_cast<std::int64_t>(t) + offset) % kDay + kDay) % kDay;
  const std::int64_t open = start_second, close = end_second;
  const bool inside = open < close ? (second >= open && second < close) : (second >= open || second < close);
  if (inside) return std::chrono::seconds(0);
  return std::chrono::seconds(((open - second) % kDay + kDay) % kDay);
}

std::string RunWindow::describe() const {
  std::string zone = "local time";
  if (utc_offset_minutes) {
    const int o = *utc_offset_minutes;
    zone = o == 0 ? "UTC" : fmt::format("UTC{}{}", o < 0 ? '-' : '+', clock_text((o < 0 ? -o : o) * 60));
  }
  return fmt::format("{}-{} {}", clock_text(start_second), clock_text(end_second), zone);
}

}  // namespace flowbatch
