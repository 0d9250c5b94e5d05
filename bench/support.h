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

/// A program running in the background for the length of a benchmark (a server); stopped
/// (SIGTERM, then SIGKILL) when destroyed.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::filesystem::path& log);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  int pid() const { return pid_; }
  /// Whether it has ended, without waiting; then its exit code (128 + the signal when killed).
  bool ended(int& exit_code);
  /// SIGKILL (a crash, as far as the program can tell), and waits for it.
  void kill_now();

 private:
  int pid_ = -1;
};

/// Runs a program and returns what it printed on stdout (stderr goes to `log` if given).
std::string run_capture(const std::vector<std::string>& argv, int* exit_code = nullptr);

/// The median of some measurements (the middle one; the mean of the two middle ones when even).
double median(std::vector<double> values);

/// A loopback TCP port nothing listens on right now.
int free_port();
/// Waits until something accepts connections on the loopback port (bounded); false on time-out.
bool wait_for_port(int port, std::chrono::milliseconds limit = std::chrono::seconds(10));

/// GET a URL on loopback (a server's /stats); the body, or throws.
std::string http_get(const std::string& url);

/// The path of a program on PATH, or "" when it is not installed.
std::string find_program(const std::string& name);

/// A scratch folder for inputs and outputs (kept, so results can be inspected).
std::filesystem::path scratch_dir(const std::string& name);

/// The git revision of the source tree, for the record.
std::string git_revision();

}  // namespace flowbatch::bench
