#pragma once
// [pipeline] window as the paths that start paid work see it (a request on a provider lane, a new
// batch job): one answer to "how long until it opens", one way to stop outside it, one log line.
#include <chrono>
#include <string>
#include <string_view>

namespace flowbatch {

class RunState;

/// How long from now until [pipeline] window opens: zero inside it, or when there is none.
std::chrono::seconds until_window_opens(const RunState& run);

/// Outside the window with `window_exit = true`: stops the run resumably (exit 75), naming the
/// window, and returns true; false when the run is to wait instead.
bool stop_outside_window(RunState& run);

/// The log line of a path that waits `wait` for the window to open: "outside the run window
/// 22:00-06:00 local time: `what` wait 7 min for it to open".
std::string window_wait_note(const RunState& run, std::string_view what, std::chrono::seconds wait);

}  // namespace flowbatch
