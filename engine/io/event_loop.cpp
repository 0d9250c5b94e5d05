#include "engine/io/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace flowbatch {
namespace {
// curl_global_init is not thread-safe; do it once, before any loop exists.
struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

std::runtime_error system_error(const char* what) {
  return std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}
}  // namespace

EventLoop::EventLoop() {
  static CurlGlobal global;
  multi_ = curl_multi_init();
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw system_error("epoll_create1");
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw system_error("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

EventLoop::~EventLoop() {
  stop();
  curl_multi_cleanup(multi_);
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void EventLoop::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    thread_id_ = std::this_thread::get_id();
    run();
  });
}

void EventLoop::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  wakeup();
  thread_.join();
  thread_id_ = std::thread::id{};
}

void EventLoop::wakeup() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);  // full only if already pending
}

void EventLoop::schedule(Timer timer) {
  bool was_empty = false;
  {
    std::lock_guard lock(incoming_mutex_);
    timer.seq = next_seq_++;
    was_empty = incoming_.empty();
    incoming_.push_back(std::move(timer));
    has_incoming_.store(true, std::memory_order_release);
  }
  if (was_empty) wakeup();  // the loop takes every queued timer at once: one wakeup per burst
}

void EventLoop::at(Clock::time_point when, Callback fire, Callback on_cancel) {
  schedule(Timer{when, 0, std::move(fire), std::move(on_cancel), false});
}

void EventLoop::after_skippable(std::chrono::nanoseconds delay, Callback fire, Callback on_cancel) {
  schedule(Timer{Clock::now() + delay, 0, std::move(fire), std::move(on_cancel), true});
}

void EventLoop::skip_waits() {
  skipping_ = true;
  wakeup();
}

void EventLoop::cancel_timers() {
  cancelled_ = true;
  wakeup();
}

void EventLoop::watch(int fd, Callback on_readable) {
  watch_socket(fd, true, false, [on_readable = std::move(on_readable)](std::uint32_t) { on_readable(); });
}

namespace {
epoll_event interest_of(int fd, bool readable, bool writable) {
  epoll_event ev{};
  ev.events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u);
  ev.data.fd = fd;
  return ev;
}
}  // namespace

void EventLoop::watch_socket(int fd, bool readable, bool writable, SocketReady on_ready) {
  watched_.emplace_back(fd, std::move(on_ready));
  std::erase(unwatched_this_pass_, fd);
  epoll_event ev = interest_of(fd, readable, writable);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
}

void EventLoop::set_interest(int fd, bool readable, bool writable) {
  epoll_event ev = interest_of(fd, readable, writable);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::unwatch(int fd) {
  std::erase_if(watched_, [fd](const auto& w) { return w.first == fd; });
  unwatched_this_pass_.push_back(fd);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::take_incoming() {
  std::vector<Timer> fresh;
  {
    std::lock_guard lock(incoming_mutex_);
    fresh.swap(incoming_);
    has_incoming_.store(false, std::memory_order_relaxed);
  }
  for (auto& t : fresh) {
    heap_.push_back(std::move(t));
    std::push_heap(heap_.begin(), heap_.end(), Later{});
  }
}

void EventLoop::run_due_timers() {
  const auto now = Clock::now();
  while (!heap_.empty() && heap_.front().when <= now) {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    Timer t = std::move(heap_.back());
    heap_.pop_back();
    if (t.fire) t.fire();
  }
}

void EventLoop::cancel_all_timers() {
  // Callbacks may schedule new timers; keep cancelling until nothing is left.
  while (true) {
    take_incoming();
    if (heap_.empty()) return;
    std::vector<Timer> doomed;
    doomed.swap(heap_);
    for (auto& t : doomed)
      if (t.on_cancel) t.on_cancel();
  }
}

void EventLoop::cancel_skippable_timers() {
  auto skippable = [](const Timer& t) { return t.skippable; };
  if (std::none_of(heap_.begin(), heap_.end(), skippable)) return;
  std::vector<Timer> keep, doomed;
  for (auto& t : heap_) (t.skippable ? doomed : keep).push_back(std::move(t));
  heap_ = std::move(keep);
  std::make_heap(heap_.begin(), heap_.end(), Later{});
  for (auto& t : doomed)
    if (t.on_cancel) t.on_cancel();
}

// --- libcurl's socket interface ------------------------------------------------------------

int EventLoop::on_curl_socket(CURL*, curl_socket_t socket, int what, void* loop, void* socket_data) {
  auto* self = static_cast<EventLoop*>(loop);
  if (what == CURL_POLL_REMOVE) {
    ::epoll_ctl(self->epoll_fd_, EPOLL_CTL_DEL, socket, nullptr);
    // A kept-alive connection is handed back here between transfers; forget the mark so that
    // its next transfer adds it to epoll again instead of modifying an entry that is gone.
    curl_multi_assign(self->multi_, socket, nullptr);
    return 0;
  }
  epoll_event ev{};
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  ev.data.fd = socket;
  if (socket_data) {
    ::epoll_ctl(self->epoll_fd_, EPOLL_CTL_MOD, socket, &ev);
  } else {
    ::epoll_ctl(self->epoll_fd_, EPOLL_CTL_ADD, socket, &ev);
    curl_multi_assign(self->multi_, socket, self);  // marks the socket as known (non-null)
  }
  return 0;
}

int EventLoop::on_curl_timer(CURLM*, long timeout_ms, void* loop) {
  auto* self = static_cast<EventLoop*>(loop);
  if (timeout_ms < 0) self->curl_deadline_.reset();
  else self->curl_deadline_ = Clock::now() + std::chrono::milliseconds(timeout_ms);
  return 0;
}

void EventLoop::drive_curl(curl_socket_t socket, int events) {
  int running = 0;
  curl_multi_socket_action(multi_, socket, events, &running);
  read_transfers();
}

void EventLoop::read_transfers() {
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
    if (msg->msg == CURLMSG_DONE && transfer_done_) transfer_done_(msg);
  }
}

int EventLoop::wait_ms() const {
  const auto now = Clock::now();
  long ms = 1000;  // an idle loop still wakes now and then; cheap, and robust to a lost wakeup
  auto until = [&](Clock::time_point when) -> long {
    if (when <= now) return 0;  // also time_point::min() (post): no subtraction then
    // Round up, so a timer due in 0.4 ms does not make the loop spin.
    return static_cast<long>(std::chrono::ceil<std::chrono::milliseconds>(when - now).count());
  };
  if (!heap_.empty()) ms = std::min(ms, until(heap_.front().when));
  if (curl_deadline_) ms = std::min(ms, until(*curl_deadline_));
  return static_cast<int>(ms);
}

void EventLoop::wait_for_events(int timeout_ms) {
  epoll_event events[128];
  unwatched_this_pass_.clear();
  const int n = ::epoll_wait(epoll_fd_, events, 128, timeout_ms);
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == wake_fd_) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto r = ::read(wake_fd_, &count, sizeof count);
      continue;
    }
    auto watched = std::find_if(watched_.begin(), watched_.end(), [fd](const auto& w) { return w.first == fd; });
    if (watched != watched_.end()) {
      const SocketReady on_ready = watched->second;  // a copy: the call may unwatch it
      on_ready(events[i].events);
      continue;
    }
    if (std::find(unwatched_this_pass_.begin(), unwatched_this_pass_.end(), fd) != unwatched_this_pass_.end()) continue;
    int flags = 0;
    if (events[i].events & EPOLLIN) flags |= CURL_CSELECT_IN;
    if (events[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
    if (events[i].events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
    drive_curl(fd, flags);
  }
}

void EventLoop::run() {
  while (!stopping_) {
    take_incoming();
    if (cancelled_) cancel_all_timers();  // sticky: after a hard stop no timer fires again
    if (skipping_) cancel_skippable_timers();
    run_due_timers();
    // Start queued transfers first, so they are under way before the loop waits.
    if (each_pass_) each_pass_();
    if (curl_deadline_ && *curl_deadline_ <= Clock::now()) {
      curl_deadline_.reset();
      drive_curl(CURL_SOCKET_TIMEOUT, 0);
    }
    take_incoming();
    if (stopping_) break;
    wait_for_events(has_incoming_.load(std::memory_order_acquire) ? 0 : wait_ms());
  }
  cancel_all_timers();  // nobody may be left waiting on a timer that will never fire
}

}  // namespace flowbatch
