// The flowbatch program's own sched_yield(), so that oneTBB's idle workers sleep sooner.
//
// oneTBB 2021.8 (Debian 12's) lets a worker that runs out of tasks call sched_yield() about a
// hundred times, with a pause of ~1,000 processor cycles between calls, before it goes to sleep,
// and it has no setting for that (later releases add a leave policy to task_arena). A graph that
// waits on HTTP runs out of tasks after every batch of answers, hundreds of times a second, and
// each of those calls is a system call: bench_http measured them at a fifth of the program's CPU
// (bench/README.md, issue 17).
//
// So a quick run of calls skips the system call for its first 128 calls or its first 50 µs,
// whichever lasts longer: the idle loop's run (~100 calls, ~40 µs at 2.5 GHz) ends within that on
// a slow processor as on a fast one, and the worker goes to sleep having made none. A run that
// goes on longer is a thread waiting for something another thread must do first (a lock held by a
// thread this CPU may have to run): from then on it yields for real, so nothing can livelock.
// A call more than 20 µs after the previous one starts a new run.
//
// This replaces libc's sched_yield() for the whole process (the executable's definition comes
// first when a library's call is bound). Here only oneTBB calls it (libtbb, libtbbmalloc), and
// libldap, which libcurl and libpq load, on LDAP paths only; libcurl, SQLite, libpq and hiredis
// themselves do not, and glibc's own uses are internal. Linked into the program only (never into a
// library that tests or plugins load), and not under the sanitizers (FLOWBATCH_SHORT_IDLE_SPIN).
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

namespace {
using Clock = std::chrono::steady_clock;  // vDSO: no system call of its own
/// How long, and for how many calls, a run goes without a system call.
constexpr auto kQuietFor = std::chrono::microseconds(50);
constexpr unsigned kQuietCalls = 128;
/// A call this long after the previous one starts a new run.
constexpr auto kNewRunAfter = std::chrono::microseconds(20);

thread_local Clock::time_point run_started;
thread_local Clock::time_point last_call;
thread_local unsigned calls_in_run = 0;
}  // namespace

extern "C" int sched_yield() noexcept {
  const auto now = Clock::now();
  if (now - last_call > kNewRunAfter) {
    run_started = now;
    calls_in_run = 0;
  }
  last_call = now;
  if (++calls_in_run <= kQuietCalls || now - run_started < kQuietFor) return 0;
  return static_cast<int>(::syscall(SYS_sched_yield));
}
