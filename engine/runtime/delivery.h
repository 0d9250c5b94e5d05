#pragma once
// Delivery of notifications and alerts ([notify.NAME], docs/watching.md): JSON to a webhook or to
// a local command's stdin, retried with back-off, never blocking the graph and never fatal.
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "engine/core/console.h"
#include "engine/core/job_queue.h"
#include "engine/graph/notify_options.h"
#include "engine/io/event_loop.h"
#include "engine/io/http_client.h"

namespace flowbatch {

/// Webhooks go through the engine's HTTP client (its I/O loop); commands run on a thread of
/// their own, as they block. Every attempt, retry and give-up is decided on the loop thread.
/// Each target gets one message at a time, in the order sent, so a receiver never sees an older
/// state after a newer one. Targets must outlive the Delivery (they live in the Plan).
class Delivery {
 public:
  Delivery(HttpClient& http, EventLoop& loop, Console& console);
  ~Delivery();
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  /// Sends `json` to `target` (from any thread): tried up to target.max_attempts times. A
  /// `replaceable` message still waiting behind another is replaced by the next replaceable one
  /// (a newer commit position makes an older one worthless).
  void send(const DeliveryTarget& target, std::string json, bool replaceable = false);
  /// Waits until every delivery has succeeded or been given up (the loop must be running).
  void wait_idle();

 private:
  struct Job {
    const DeliveryTarget* target;
    std::string body;
    bool replaceable = false;
    int attempt = 1;
  };
  struct Line {  // one target's messages
    bool busy = false;
    std::deque<std::shared_ptr<Job>> waiting;
  };
  void enqueue(std::shared_ptr<Job> job);                               // loop thread
  void start(const std::shared_ptr<Job>& job);                          // loop thread
  void ended(const std::shared_ptr<Job>& job, const std::string& why);  // loop thread; empty why: delivered
  /// The job is over (delivered or given up): the target's next message starts.
  void finished(const DeliveryTarget* target);
  /// A hard stop cancelled the target's running job: it and those waiting are over.
  void cancelled(const DeliveryTarget* target);
  void done(int messages = 1);

  HttpClient& http_;
  EventLoop& loop_;
  Console& console_;
  std::mt19937_64 rng_{std::random_device{}()};  // loop thread only
  std::mutex lines_mutex_;                       // a hard stop's cancellations may come from another thread
  std::map<const DeliveryTarget*, Line> lines_;  // guarded by lines_mutex_
  std::mutex mutex_;
  std::condition_variable idle_;
  int pending_ = 0;       // guarded by mutex_
  JobQueue commands_{1};  // last: joined first, while the rest still exists
};

}  // namespace flowbatch
