#pragma once
#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace flowbatch {

/// The engine's I/O thread: a libcurl multi loop that also runs timers (retry back-off, batch
/// time-outs, simulated latency, progress) and watches a few file descriptors (signals).
///
/// It is event-driven: libcurl tells it which sockets to watch (curl_multi_socket_action) and the
/// loop waits on them with epoll, so a pass costs what happened, not how many transfers are open.
/// Other threads hand it work through a mutex-guarded queue and wake it through an eventfd, so no
/// TBB worker ever sleeps or blocks on I/O. Callbacks run on the loop thread and must be short:
/// hand results back into the graph and return.
class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using Callback = std::function<void()>;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void start();
  /// Runs every pending timer's cancel callback, then stops and joins the thread. Idempotent.
  void stop();

  /// Runs `fire` on the loop thread at `when`. If the timers are cancelled first (hard stop),
  /// `on_cancel` runs instead, so whoever waits on the timer is always released. Thread-safe.
  void at(Clock::time_point when, Callback fire, Callback on_cancel = {});
  void after(std::chrono::nanoseconds delay, Callback fire, Callback on_cancel = {}) {
    at(Clock::now() + delay, std::move(fire), std::move(on_cancel));
  }
  /// Like after(), for waits that a drain may cut short (a retry's back-off): once
  /// skip_waits() was called, such timers run `on_cancel` at once instead of waiting. Thread-safe.
  void after_skippable(std::chrono::nanoseconds delay, Callback fire, Callback on_cancel);
  /// From now on, skippable timers (pending or new) are cancelled instead of fired. Thread-safe.
  void skip_waits();

  /// Runs `fn` on the loop thread as soon as possible. Thread-safe.
  void post(Callback fn, Callback on_cancel = {}) { at(Clock::time_point::min(), std::move(fn), std::move(on_cancel)); }

  /// Cancels every pending timer, and every timer scheduled from now on: their on_cancel
  /// callbacks run on the loop thread instead. Used by a hard stop. Thread-safe.
  void cancel_timers();

  /// Calls `on_readable` on the loop thread whenever `fd` is readable. Call before start().
  void watch(int fd, Callback on_readable);

  /// A socket whose interest changes while it lives (a Redis connection driven by hiredis's async
  /// API): `on_ready` gets the epoll events that came. Loop thread only (or before start()).
  using SocketReady = std::function<void(std::uint32_t events)>;
  void watch_socket(int fd, bool readable, bool writable, SocketReady on_ready);
  void set_interest(int fd, bool readable, bool writable);
  void unwatch(int fd);

  /// The multi handle, for the HTTP client; use only on the loop thread.
  CURLM* multi() const { return multi_; }
  /// Called on the loop thread for every finished transfer (CURLMSG_DONE). Set before start().
  void on_transfer_done(std::function<void(CURLMsg*)> handler) { transfer_done_ = std::move(handler); }
  /// Called on the loop thread once per loop pass, before curl_multi_perform (the HTTP client
  /// starts queued transfers here). Set before start().
  void on_each_pass(Callback hook) { each_pass_ = std::move(hook); }
  /// Wakes the loop (e.g. after queuing work for it). Thread-safe.
  void wakeup();

  bool on_loop_thread() const { return std::this_thread::get_id() == thread_id_.load(); }

 private:
  struct Timer {
    Clock::time_point when;
    std::uint64_t seq;
    Callback fire;
    Callback on_cancel;
    bool skippable = false;
  };
  struct Later {
    bool operator()(const Timer& a, const Timer& b) const { return a.when != b.when ? a.when > b.when : a.seq > b.seq; }
  };

  void run();
  void wait_for_events(int timeout_ms);
  void drive_curl(curl_socket_t socket, int events);
  void take_incoming();
  void run_due_timers();
  void cancel_all_timers();
  void cancel_skippable_timers();
  void schedule(Timer timer);
  void read_transfers();
  int wait_ms() const;

  static int on_curl_socket(CURL* easy, curl_socket_t socket, int what, void* loop, void* socket_data);
  static int on_curl_timer(CURLM* multi, long timeout_ms, void* loop);

  CURLM* multi_ = nullptr;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;                                // eventfd: other threads write to it to wake the loop
  std::optional<Clock::time_point> curl_deadline_;  // when libcurl wants socket_action(TIMEOUT)
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> skipping_{false};

  std::mutex incoming_mutex_;
  std::vector<Timer> incoming_;
  std::atomic<bool> has_incoming_{false};
  std::uint64_t next_seq_ = 0;

  std::vector<Timer> heap_;  // loop thread only
  std::vector<std::pair<int, SocketReady>> watched_;
  std::vector<int> unwatched_this_pass_;  // their events still in this pass's batch are not curl's
  std::function<void(CURLMsg*)> transfer_done_;
  Callback each_pass_;
};

}  // namespace flowbatch
