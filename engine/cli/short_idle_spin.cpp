// The flowbatch program's own sched_yield(), so that oneTBB's idle workers sleep sooner.
//
// oneTBB 2021.8 (Debian 12's) lets a worker that runs out of tasks call sched_yield() about a
// hundred times, with a pause of ~1,000 cycles between calls, before it goes to sleep, and it has
// no setting for that (later releases add a leave policy to task_arena). A graph that waits on
// HTTP runs out of tasks after every batch of answers, hundreds of times a second, and each of
// those calls is a system call: bench_http measured them at a fifth of the program's CPU
// (bench/README.md, issue 17).
//
// So calls that come in a quick run skip the system call for the run's first 50 µs: the idle
// loop's run ends within that (its pauses alone take ~40 µs), and the worker goes to sleep having
// made none. A run that goes on longer is a thread waiting for something another thread must do
// first (a lock held by a thread this CPU may have to run): from then on it yields for real.
//
// This replaces libc's sched_yield() for the whole process (the executable's definition comes
// first when libtbb's call is bound). Only oneTBB calls it here: libcurl, SQLite, libpq and
// hiredis do not, and glibc's own uses are internal. Linked into the program only (never into a
// library that tests or plugins load), and not under the sanitizers (FLOWBATCH_SHORT_IDLE_SPIN).
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

namespace {
using Clock = std::chrono::steady_clock;
/// How long a run of calls goes without a system call.
constexpr auto kQuietFor = std::chrono::microseconds(50);
/// A call this long after the previous one starts a new run.
constexpr auto kNewRunAfter = std::chrono::microseconds(20);

thread_local Clock::time_point run_started;
thread_local Clock::time_point last_call;
}  // namespace

extern "C" int sched_yield() noexcept {
  const auto now = Clock::now();
  if (now - last_call > kNewRunAfter) run_started = now;
  last_call = now;
  if (now - run_started < kQuietFor) return 0;
  return static_cast<int>(::syscall(SYS_sched_yield));
}
