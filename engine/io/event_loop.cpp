#include "engine/io/event_loop.h"

#include <algorithm>
#include <stdexcept>

namespace flowbatch {
namespace {
// curl_global_init is not thread-safe; do it once, before any loop exists.
struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};
}  // namespace

EventLoop::EventLoop() {
  static CurlGlobal global;
  multi_ = curl_multi_init();
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
}

EventLoop::~EventLoop() {
  stop();
  curl_multi_cleanup(multi_);
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

void EventLoop::wakeup() { curl_multi_wakeup(multi_); }

void EventLoop::schedule(Timer timer) {
  {
    std::lock_guard lock(incoming_mutex_);
    timer.seq = next_seq_++;
    incoming_.push_back(std::move(timer));
    has_incoming_.store(true, std::memory_order_release);
  }
  wakeup();
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

void EventLoop::watch(int fd, Callback on_readable) { watched_.emplace_back(fd, std::move(on_readable)); }

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

void EventLoop::read_transfers() {
  int still_running = 0;
  curl_multi_perform(multi_, &still_running);
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
    if (msg->msg == CURLMSG_DONE && transfer_done_) transfer_done_(msg);
  }
}

int EventLoop::wait_ms() const {
  long curl_timeout = -1;
  curl_multi_timeout(multi_, &curl_timeout);
  long ms = 1000;  // an idle loop still wakes now and then; cheap, and robust to a lost wakeup
  if (!heap_.empty()) {
    const auto now = Clock::now();
    const auto when = heap_.front().when;  // may be time_point::min() (post): no subtraction then
    if (when <= now) {
      ms = 0;
    } else {
      // Round up, so a timer due in 0.4 ms does not make the loop spin.
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(when - now).count();
      ms = std::min<long>(static_cast<long>(wait), ms);
    }
  }
  if (curl_timeout >= 0) ms = std::min(ms, curl_timeout);
  return static_cast<int>(ms);
}

void EventLoop::run() {
  std::vector<curl_waitfd> fds;
  while (!stopping_) {
    take_incoming();
    if (cancelled_) cancel_all_timers();  // sticky: after a hard stop no timer fires again
    if (skipping_) cancel_skippable_timers();
    run_due_timers();
    read_transfers();
    if (each_pass_) each_pass_();
    take_incoming();
    if (stopping_) break;

    fds.clear();
    for (const auto& [fd, cb] : watched_) fds.push_back(curl_waitfd{fd, CURL_WAIT_POLLIN, 0});
    const int timeout = has_incoming_.load(std::memory_order_acquire) ? 0 : wait_ms();
    curl_multi_poll(multi_, fds.data(), static_cast<unsigned>(fds.size()), timeout, nullptr);
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (fds[i].revents & CURL_WAIT_POLLIN) watched_[i].second();
  }
  cancel_all_timers();  // nobody may be left waiting on a timer that will never fire
}

}  // namespace flowbatch
