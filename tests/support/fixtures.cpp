#include "tests/support/fixtures.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "engine/config/option_reader.h"
#include "engine/config/toml_loader.h"
#include "engine/core/console.h"
#include "engine/core/redactor.h"
#include "nodes/builtin.h"

namespace flowbatch::test {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          fmt::format("flowbatch-test-{}-{}-{}", ::getpid(), counter.fetch_add(1), rd() % 100000);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::write(const std::string& name, const std::string& text) const {
  const auto p = path_ / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << text;
  return p;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<boost::json::object> read_jsonl(const std::filesystem::path& path) {
  std::vector<boost::json::object> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    REQUIRE_MESSAGE(!ec, "not JSON in ", path.string(), ": ", line);
    REQUIRE_MESSAGE(v.is_object(), "not an object in ", path.string(), ": ", line);
    out.push_back(std::move(v.get_object()));
  }
  return out;
}

std::string make_jsonl(std::size_t n, const std::string& prefix, const std::string& extra_fields) {
  std::string out;
  for (std::size_t i = 1; i <= n; ++i)
    out += fmt::format("{{\"id\": \"{}{}\", \"text\": \"item {}\"{}{}}}\n", prefix, i, i,
                       extra_fields.empty() ? "" : ", ", extra_fields);
  return out;
}

namespace {
TypeRegistry* new_builtin_registry() {
  auto* r = new TypeRegistry();  // never destroyed: plugin types' code stays loaded to the end
  register_builtin(*r);
  return r;
}
}  // namespace

TypeRegistry& builtin_registry() {
  static TypeRegistry* registry = new_builtin_registry();
  return *registry;
}

TypeRegistry& plugin_registry() {
  static TypeRegistry* registry = new_builtin_registry();
  return *registry;
}

CompileResult compile_text(const std::string& toml, const TempDir& dir, const std::vector<std::string>& overrides,
                           TypeRegistry* registry) {
  const auto file = dir.write("graph.toml", toml);
  Redactor redactor;
  CompileOptions options;
  options.overrides = overrides;
  return compile_file(file, registry ? *registry : builtin_registry(), redactor, options);
}

namespace {
InProcessRun run_in_process(const std::string& toml, const TempDir& dir, const std::vector<std::string>& overrides,
                            TypeRegistry* registry, bool fresh) {
  InProcessRun run;
  std::vector<std::string> all = overrides;
  all.push_back("pipeline.progress=off");
  run.compiled = compile_text(toml, dir, all, registry);
  REQUIRE_MESSAGE(run.compiled.plan.has_value(), run.compiled.diagnostics.str());
  Redactor redactor;
  std::FILE* log = std::tmpfile();
  {
    Console console(redactor, log);
    RunOptions options;
    options.handle_signals = false;
    options.fresh = fresh;
    run.report = run_plan(*run.compiled.plan, console, redactor, options);
  }
  std::rewind(log);
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, log)) > 0) run.console.append(buffer, n);
  std::fclose(log);
  return run;
}
}  // namespace

InProcessRun run_text(const std::string& toml, const TempDir& dir, const std::vector<std::string>& overrides,
                      TypeRegistry* registry) {
  return run_in_process(toml, dir, overrides, registry, true);
}

InProcessRun resume_text(const std::string& toml, const TempDir& dir, const std::vector<std::string>& overrides,
                         TypeRegistry* registry) {
  return run_in_process(toml, dir, overrides, registry, false);
}

namespace {
std::string drain(int fd) {
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<std::size_t>(n));
  return out;
}
}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd) {
  int out_pipe[2], err_pipe[2];
  REQUIRE(::pipe(out_pipe) == 0);
  REQUIRE(::pipe(err_pipe) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());  // a bare name ("python3") is looked up in PATH
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ProcessResult r;
  std::thread err_reader([&] { r.err = drain(err_pipe[0]); });
  r.out = drain(out_pipe[0]);
  err_reader.join();
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

ProcessResult run_flowbatch(const std::vector<std::string>& args, const std::filesystem::path& cwd) {
  std::vector<std::string> argv = {FLOWBATCH_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, cwd);
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

pid_t start_program(const std::vector<std::string>& argv, const std::filesystem::path& cwd) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    std::vector<char*> raw;
    for (const auto& a : argv) raw.push_back(const_cast<char*>(a.c_str()));
    raw.push_back(nullptr);
    ::execvp(raw[0], raw.data());  // a bare name ("python3") is looked up in PATH
    ::_exit(127);
  }
  return pid;
}

pid_t start_flowbatch(const std::vector<std::string>& args, const std::filesystem::path& cwd) {
  std::vector<std::string> argv = {FLOWBATCH_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return start_program(argv, cwd);
}

int kill_at_random_moments(const std::vector<std::string>& args, const std::filesystem::path& cwd, int attempts,
                           unsigned seed, std::chrono::milliseconds min_delay, std::chrono::milliseconds max_delay) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<long> delay(min_delay.count(), max_delay.count());
  int kills = 0;
  for (int k = 0; k < attempts; ++k) {
    const pid_t pid = start_flowbatch(args, cwd);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
    const bool still_running = ::waitpid(pid, nullptr, WNOHANG) == 0;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    if (!still_running) break;  // it finished before the kill: nothing left to interrupt
    ++kills;
  }
  return kills;
}

std::shared_ptr<Provider> make_provider(const std::string& type, const std::string& toml) {
  static std::mutex mutex;
  static std::deque<ConfigValue> tables;  // readers borrow their table; keep them for the test run
  std::lock_guard lock(mutex);
  Diagnostics d;
  Redactor redactor;
  tables.push_back(load_toml_text(toml, type + ".toml", ".", d));
  const ProviderType* t = builtin_registry().provider(type);
  REQUIRE_MESSAGE(t, "no provider type ", type);
  std::vector<KeySpec> keys = t->keys;
  OptionReader reader(tables.back(), "providers.p", "p", keys, {d, redactor, true});
  auto p = t->configure(reader);
  REQUIRE_MESSAGE(!d.has_errors(), d.str());
  return p;
}

std::map<std::string, int> count_ids(const std::vector<boost::json::object>& records, const std::string& key) {
  std::map<std::string, int> counts;
  for (const auto& r : records) {
    const auto* v = r.if_contains(key);
    if (v && v->is_string()) ++counts[std::string(v->get_string())];
  }
  return counts;
}

std::string openai_chat_graph(const std::string& base_url, const std::string& provider_keys,
                              const std::string& retry_keys, const std::string& call_keys,
                              const std::string& pipeline_keys) {
  return fmt::format(R"(
[pipeline]
progress = "off"{}
[providers.p]
type = "openai"
base_url = "{}"
api_key_env = ""
{}
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in", "r"]
provider = "p"
model = "m"
prompt = "{{{{text}}}}"{}
[retries.r]
inputs = ["c.error"]
initial_backoff_ms = 50
max_backoff_ms = 2000
{}
[dead_letters.dead]
inputs = ["r.exhausted", "in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     pipeline_keys.empty() ? "" : "\n" + pipeline_keys, base_url, provider_keys,
                     call_keys.empty() ? "" : "\n" + call_keys, retry_keys);
}

std::string ChatGraph::toml() const {
  return fmt::format(R"(
[pipeline]
progress = "off"
{}
[providers.p]
type = "{}"
base_url = "{}"
api_key_env = ""
{}
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "p"
model = "m"
system = "{}"
prompt = "{{{{text}}}}"
{}
[dead_letters.dead]
inputs = ["c.error", "in.invalid"]
path = "dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
{}
)",
                     pipeline, type, base_url, provider, system, call, sink);
}

ScopedEnv::ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
  if (const char* old = std::getenv(name_.c_str())) saved_ = old;
  ::setenv(name_.c_str(), value.c_str(), 1);
}

ScopedEnv::~ScopedEnv() {
  if (saved_) ::setenv(name_.c_str(), saved_->c_str(), 1);
  else ::unsetenv(name_.c_str());
}

std::filesystem::path source_path(const std::string& relative) {
  return std::filesystem::path(FLOWBATCH_SOURCE_DIR) / relative;
}

}  // namespace flowbatch::test
