#pragma once
// Shared test fixtures: temporary folders, files, in-process graph runs and runs of the built
// flowbatch program. Everything real: real files, the real compiler and runner.
#include <sys/types.h>
#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/core/diagnostics.h"
#include "engine/graph/compiler.h"
#include "engine/graph/type_registry.h"
#include "engine/runtime/runner.h"

namespace flowbatch::test {

/// A fresh folder under the system temp dir, removed when the test ends.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  /// Writes `text` to `name` (creating folders) and returns its path.
  std::filesystem::path write(const std::string& name, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path);
/// Every line of a JSONL file parsed (fails the test on a line that is not JSON).
std::vector<boost::json::object> read_jsonl(const std::filesystem::path& path);
/// `n` JSONL lines {"id": "<prefix><i>", "text": "item <i>", ...extra}.
std::string make_jsonl(std::size_t n, const std::string& prefix = "i", const std::string& extra_fields = "");

/// A registry with every built-in kind and type.
TypeRegistry& builtin_registry();
/// Another registry with the built-ins, for graphs that load plugins: what they register stays
/// out of builtin_registry(), which tests compare against docs/config.md.
TypeRegistry& plugin_registry();

/// Compiles a graph written as TOML text (saved as graph.toml in `dir`).
CompileResult compile_text(const std::string& toml, const TempDir& dir, const std::vector<std::string>& overrides = {},
                           TypeRegistry* registry = nullptr);

/// Compiles and runs a graph in this process (progress off, no signal handling).
struct InProcessRun {
  CompileResult compiled;
  RunReport report;
  std::string console;  ///< what the run printed (logs)
};
/// Each call is a new run (--fresh: an earlier run's state is archived).
InProcessRun run_text(const std::string& toml, const TempDir& dir, const std::vector<std::string>& overrides = {},
                      TypeRegistry* registry = nullptr);
/// The same graph run again on the state an earlier run left: it resumes.
InProcessRun resume_text(const std::string& toml, const TempDir& dir, const std::vector<std::string>& overrides = {},
                         TypeRegistry* registry = nullptr);

/// What a program run printed, and how it ended.
struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
/// Runs a program (a path, or a name looked up in PATH) and captures its output.
ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd = {});
/// Runs the built flowbatch program.
ProcessResult run_flowbatch(const std::vector<std::string>& args, const std::filesystem::path& cwd = {});

/// Starts `argv` (a bare program name is looked up in PATH) in `cwd` (empty: here) without
/// waiting; its output goes to /dev/null.
pid_t start_program(const std::vector<std::string>& argv, const std::filesystem::path& cwd = {});
/// Starts the built flowbatch program in `cwd` without waiting (its output goes to /dev/null).
pid_t start_flowbatch(const std::vector<std::string>& args, const std::filesystem::path& cwd);
/// Waits for a started program: its exit code, or 128 + the signal that ended it.
int wait_exit(pid_t pid);

/// Runs `flowbatch args...` in `cwd` up to `attempts` times, each killed with SIGKILL after a
/// random delay in [min_delay, max_delay] (from `seed`); stops early once a run finishes before
/// its kill. Returns how many runs were really killed.
int kill_at_random_moments(const std::vector<std::string>& args, const std::filesystem::path& cwd, int attempts,
                           unsigned seed, std::chrono::milliseconds min_delay, std::chrono::milliseconds max_delay);

/// A provider of a registered type, configured from TOML text (fails the test on config errors).
std::shared_ptr<Provider> make_provider(const std::string& type, const std::string& toml);

/// The "id" of every record, counted.
/// Polls `done` every millisecond until it is true (bounded); false on time-out. For waiting on
/// another thread, never for timing.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::map<std::string, int> count_ids(const std::vector<boost::json::object>& records, const std::string& key = "id");

/// A graph calling an OpenAI-compatible server at `base_url` without a key: source "in" (in.jsonl,
/// id_field "id") → call "c" (model "m", prompt "{{text}}") → sink out.jsonl; failures go through
/// retry "r" to the dead letter "dead" (dead.jsonl). `provider_keys` and `retry_keys` are TOML
/// lines added to [providers.p] and [retries.r] (and [calls.c], [pipeline]).
std::string openai_chat_graph(const std::string& base_url, const std::string& provider_keys,
                              const std::string& retry_keys, const std::string& call_keys = {},
                              const std::string& pipeline_keys = {});

/// A graph calling provider "p" (`type` at `base_url`, no key) with every item of in.jsonl
/// (id_field "id"): call "c" (model "m", `system`, prompt "{{text}}") → sink "out" (out.jsonl); its
/// error port and the source's invalid records go to the dead letter "dead" (dead.jsonl). Each
/// string member holds TOML lines added to its table.
struct ChatGraph {
  std::string type = "openai";
  std::string base_url;
  std::string system = "Answer briefly.";
  std::string pipeline;                          ///< lines for [pipeline]
  std::string provider = "max_concurrency = 4";  ///< lines for [providers.p]
  std::string call;                              ///< lines for [calls.c]
  std::string sink;                              ///< lines for [sinks.out]
  std::string toml() const;
};

/// Sets an environment variable until the end of the scope (programs the test starts inherit it).
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> saved_;
};

/// The path of a file in the source tree (graphs/, tests/).
std::filesystem::path source_path(const std::string& relative);

}  // namespace flowbatch::test
