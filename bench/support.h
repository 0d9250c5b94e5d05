#pragma once
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace flowbatch::bench {

/// What one run of a program cost.
struct Measured {
  int exit_code = -1;
  double seconds = 0;
  double cpu_seconds = 0;  ///< user + system
  long peak_rss_kb = 0;
};

/// Runs a program to its end (output discarded unless `log` is given), measuring wall time,
/// CPU time and peak resident memory through wait4().
Measured run_measured(const std::vector<std::string>& argv, const std::filesystem::path& cwd = {},
                      const std::filesystem::path& log = {});

/// A scratch folder for inputs and outputs (kept, so results can be inspected).
std::filesystem::path scratch_dir(const std::string& name);

/// The git revision of the source tree, for the record.
std::string git_revision();

}  // namespace flowbatch::bench
