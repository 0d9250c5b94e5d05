#include "engine/runtime/run_window_gate.h"

#include <fmt/format.h>

#include "engine/runtime/run_state.h"

namespace flowbatch {

std::chrono::seconds until_window_opens(const RunState& run) {
  if (!run.window) return std::chrono::seconds{0};
  return run.window->until_open(std::chrono::system_clock::now());
}

bool stop_outside_window(RunState& run) {
  if (!run.window_exit || !run.window) return false;
  run.stop_resumable(fmt::format("outside the run window {}: run again inside it to go on", run.window->describe()));
  return true;
}

std::string window_wait_note(const RunState& run, std::string_view what, std::chrono::seconds wait) {
  const std::string window = run.window ? run.window->describe() : std::string("(none)");
  return fmt::format("outside the run window {}: {} wait {} min for it to open", window, what,
                     (wait.count() + 59) / 60);
}

}  // namespace flowbatch
