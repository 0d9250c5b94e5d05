#pragma once
#include <atomic>

namespace flowbatch {

/// Turns SIGINT/SIGTERM into bytes on a pipe that the event loop watches, so the decision of
/// what to do happens on a normal thread, not in a signal handler. Restores the previous
/// handlers when destroyed. One instance at a time.
class SignalPipe {
 public:
  SignalPipe();
  ~SignalPipe();
  SignalPipe(const SignalPipe&) = delete;
  SignalPipe& operator=(const SignalPipe&) = delete;

  int read_fd() const { return fds_[0]; }
  /// Drains the pipe; returns how many signals have arrived in total.
  int drain();

 private:
  int fds_[2] = {-1, -1};
};

}  // namespace flowbatch
