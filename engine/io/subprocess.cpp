#include "flowbatch/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char** environ;

namespace flowbatch {
namespace {

using Clock = std::chrono::steady_clock;

/// A pipe whose ends close themselves.
struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) read = fds[0], write = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  bool ok() const { return read >= 0; }
  void close_read() {
    if (read >= 0) ::close(read), read = -1;
  }
  void close_write() {
    if (write >= 0) ::close(write), write = -1;
  }
};

/// Writing to a child that stopped reading raises SIGPIPE in the writing thread; blocked here,
/// the write fails with EPIPE instead, and a pending SIGPIPE is taken back before unblocking.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlocked() {
    const timespec zero{0, 0};
    while (::sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {}
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_{}, old_{};
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1000));
}

pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& workdir,
            const std::vector<std::string>& environment, Pipe& in, Pipe& out, Pipe& err, std::string& error) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write, 1);
  posix_spawn_file_actions_adddup2(&actions, err.write, 2);
  if (!workdir.empty()) posix_spawn_file_actions_addchdir_np(&actions, workdir.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGINT, SIGTERM}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);         // the calling thread's blocked signals are not the child's
  posix_spawnattr_setsigdefault(&attr, &defaults);  // nor flowbatch's handlers
  posix_spawnattr_setpgroup(&attr, 0);              // its own group, so a time-out kills its children too
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  env.reserve(environment.size() + 1);
  for (const auto& e : environment) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    error = "cannot start " + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  return pid;
}

/// Reaps the child; kills its group at the deadline if it is still running by then.
void reap(pid_t pid, Clock::time_point deadline, SubprocessResult& r) {
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return;
    if (Clock::now() >= deadline && !r.timed_out) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
}

bool always_passed(std::string_view name) {
  static constexpr std::string_view kNames[] = {"PATH", "HOME", "LANG",    "LANGUAGE", "TMPDIR",
                                                "TZ",   "USER", "LOGNAME", "SHELL",    "TERM"};
  for (const std::string_view n : kNames)
    if (name == n) return true;
  return name.starts_with("LC_");
}

}  // namespace

std::vector<std::string> minimal_environment(const std::vector<std::string>& pass) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    bool passed = always_passed(name);
    for (const auto& p : pass) passed = passed || name == p;
    if (passed) out.emplace_back(entry);
  }
  return out;
}

std::filesystem::path find_program(const std::string& program, const std::filesystem::path& workdir) {
  namespace fs = std::filesystem;
  auto executable = [](const fs::path& p) { return fs::is_regular_file(p) && ::access(p.c_str(), X_OK) == 0; };
  if (program.find('/') != std::string::npos) {
    const fs::path p = fs::path(program).is_absolute() ? fs::path(program) : workdir / program;
    return executable(p) ? p : fs::path();
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const std::size_t colon = dirs.find(':');
    fs::path candidate = fs::path(dirs.substr(0, colon)) / program;
    if (executable(candidate)) return candidate;
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
  }
  return {};
}

SubprocessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& workdir,
                             const std::vector<std::string>& environment, std::string_view input,
                             std::chrono::milliseconds timeout, std::size_t max_output) {
  SubprocessResult r;
  if (argv.empty()) {
    r.spawn_error = "no command";
    return r;
  }
  Pipe in, out, err;
  if (!in.ok() || !out.ok() || !err.ok()) {
    r.spawn_error = std::string("cannot create pipes: ") + std::strerror(errno);
    return r;
  }
  const SigpipeBlocked no_sigpipe;
  const pid_t pid = spawn(argv, workdir, environment, in, out, err, r.spawn_error);
  if (pid < 0) return r;
  in.close_read();
  out.close_write();
  err.close_write();
  for (int fd : {in.write, out.read, err.read})
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);  // never stall one on another
  const Clock::time_point deadline = Clock::now() + timeout;
  std::size_t written = 0;
  if (input.empty()) in.close_write();
  while (out.read >= 0 || err.read >= 0) {
    pollfd fds[3];
    nfds_t n = 0;
    if (in.write >= 0) fds[n++] = {in.write, POLLOUT, 0};
    if (out.read >= 0) fds[n++] = {out.read, POLLIN, 0};
    if (err.read >= 0) fds[n++] = {err.read, POLLIN, 0};
    if (Clock::now() >= deadline) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    if (::poll(fds, n, remaining_ms(deadline)) < 0 && errno != EINTR) break;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in.write) {
        const ssize_t w =
            ::write(in.write, input.data() + written, std::min<std::size_t>(input.size() - written, 65536));
        if (w > 0) written += static_cast<std::size_t>(w);
        // It stopped reading (EPIPE), or it has everything.
        if ((w < 0 && errno != EINTR && errno != EAGAIN) || written == input.size()) in.close_write();
        continue;
      }
      Pipe& p = fds[i].fd == out.read ? out : err;
      std::string& sink = fds[i].fd == out.read ? r.out : r.err;
      char buffer[65536];
      const ssize_t got = ::read(p.read, buffer, sizeof buffer);
      if (got > 0) sink.append(buffer, static_cast<std::size_t>(got));
      else if (got == 0 || (errno != EINTR && errno != EAGAIN)) p.close_read();
      if (sink.size() > max_output) {
        r.output_too_large = true;
        ::kill(-pid, SIGKILL);
        out.close_read();
        err.close_read();
        break;
      }
    }
  }
  reap(pid, deadline, r);
  return r;
}

}  // namespace flowbatch
