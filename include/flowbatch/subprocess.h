#pragma once
// Runs a program to its end with input on stdin, collecting stdout and stderr, within a time-out.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace flowbatch {

struct SubprocessResult {
  std::string spawn_error;  ///< set when the program could not be started
  bool timed_out = false;   ///< killed (with its process group) at the time-out
  int exit_code = -1;       ///< when it exited; -1 when a signal ended it
  int signal = 0;           ///< the signal that ended it, if one did
  bool output_too_large = false;
  std::string out;
  std::string err;
};

/// Starts `argv` (looked up in PATH unless it has a '/', then relative to `workdir`) in `workdir`
/// and its own process group, writes `input` to its stdin, reads its stdout and stderr until both
/// close, and reaps it. At `timeout`, or when stdout passes `max_output` bytes, the whole group
/// is killed. Blocks the calling thread throughout: call it from the engine's blocking pool.
SubprocessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& workdir,
                             const std::vector<std::string>& environment, std::string_view input,
                             std::chrono::milliseconds timeout, std::size_t max_output);

/// What the program's environment holds ("NAME=value"): the variables any program needs (PATH,
/// HOME, LANG, LC_*, TMPDIR, TZ, USER, LOGNAME, SHELL, TERM), plus those named in `pass`, as
/// flowbatch's own environment has them. Never the rest: it holds API keys a local program
/// has no business reading.
std::vector<std::string> minimal_environment(const std::vector<std::string>& pass);

/// Where `program` would be found (as run_process looks for it), or an empty path.
std::filesystem::path find_program(const std::string& program, const std::filesystem::path& workdir);

}  // namespace flowbatch
