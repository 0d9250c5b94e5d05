#pragma once
// Plugin code may throw anything, not only std::exception. Every place the engine calls into a
// node type catches with `catch (...)` and turns what was thrown into a message with this, so a
// stray `throw 42;` fails one item instead of terminating the process.
#include <exception>
#include <string>

namespace flowbatch {

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
