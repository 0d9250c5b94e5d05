#pragma once
// [pipeline] window: the hours of the day in which requests may start ("22:00-06:00").
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace flowbatch {

struct RunWindow {
  int start_second = 0;  ///< seconds after midnight; an end before the start spans midnight
  int end_second = 0;
  std::optional<int> utc_offset_minutes;  ///< nothing: the machine's local time (TZ), DST included

  /// How long from `now` until the window opens (zero inside it). A pure function of `now`, so a
  /// test gives it any time it likes.
  std::chrono::seconds until_open(std::chrono::system_clock::time_point now) const;
  /// "22:00-06:00 local time", "22:00-06:00 UTC+02:00".
  std::string describe() const;
};

/// "HH:MM-HH:MM" (or "HH:MM:SS-HH:MM:SS"), optionally followed by " UTC" or " UTC+HH:MM" / " UTC-HH:MM" (or just
/// "+HH:MM"); nothing, with the reason in `why`, otherwise.
std::optional<RunWindow> parse_run_window(std::string_view text, std::string& why);

}  // namespace flowbatch
