#pragma once
#include <filesystem>
#include <stdexcept>
#include <string>

#include "engine/core/exceptions.h"

namespace flowbatch {

/// Another process holds a file this run needs for itself (the state, an output): nothing was
/// touched, and running again once that process is done goes on (exit code 75).
class FileBusy : public RunBlocked {
 public:
  using RunBlocked::RunBlocked;
};

/// An exclusive POSIX lock on an open file, held until close. Locks are the kernel's: they go
/// away with the process that held them, however it died, so a kill -9 never leaves one behind.
namespace file_lock {
/// Locks the open file `fd` (the file `path`) or throws FileBusy naming `what` and the pid of the
/// process holding it; other failures throw std::runtime_error.
void lock_or_throw(int fd, const std::filesystem::path& path, const std::string& what);
/// Whether a process holds the lock of the file `path` now (asked, never taken: a run starting at
/// that moment is not turned away); false when the file does not exist.
bool held(const std::filesystem::path& path);
}  // namespace file_lock

/// A lock file held for a run's lifetime (the state's: `<state>.lock`); it holds the holder's pid
/// for people reading it.
class RunLock {
 public:
  /// Throws FileBusy when another run holds it.
  explicit RunLock(const std::filesystem::path& lock_file, const std::string& what);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace flowbatch
