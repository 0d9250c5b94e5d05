#pragma once
// Plugin code may throw anything, not only std::exception. Every place the engine calls into a
// node type catches with `catch (...)` and turns what was thrown into a message with this, so a
// stray `throw 42;` fails one item instead of terminating the process.
#include <exception>
#include <string>

#include <stdexcept>

namespace flowbatch {

/// A run that cannot start now, with nothing touched: another run holds what it needs, or an
/// earlier command must be finished first. Running again later goes on (exit code 75).
class RunBlocked : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A disk (or a quota on it) is full: an output or the state could not be written. Nothing after
/// the last commit is recorded as done, so once space is freed the same command goes on: the run
/// stops at once, resumable (exit code 75); at start-up it blocks the run like RunBlocked.
class StorageFull : public RunBlocked {
 public:
  using RunBlocked::RunBlocked;
};

/// The message of the exception being handled: what() for a std::exception, else a description.
/// Call only inside a catch block.
inline std::string current_exception_message() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace flowbatch
