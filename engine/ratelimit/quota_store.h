#pragma once
// What a shared limit keeps where every process sharing it can reach it (Redis, or a file on this
// machine), and the one atomic step each process takes on it.
//
// The limit is GCRA as reservations: each of requests and tokens has a theoretical arrival time
// (TAT) on the store's clock. Asking for n permits reserves the n next slots of the shared
// timeline, which start at max(TAT, now, pause_until) and are spaced by the interval (one minute
// over the limit), and moves the TAT past them. Whoever asks next gets the slots after those: the
// processes together never go faster than the limit, each is served in the order it asked (fair),
// and a process that dies wastes only the slots it had reserved.
//
// Concurrency is a semaphore of leased slots: each holder's count, with an expiry renewed at every
// step it takes; an expired holder (a killed process) gives its slots back. A holder is granted
// slots up to its fair share (the slots over the holders, those waiting for slots included), and
// gives back what it holds beyond it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace flowbatch {

struct QuotaAsk {
  std::string holder;               ///< who asks: unique per limiter (host, pid, a random part)
  std::int64_t requests = 0;        ///< request permits wanted
  double tokens = 0;                ///< token permits wanted
  std::int64_t slots = 0;           ///< concurrency slots wanted
  std::int64_t returned_slots = 0;  ///< slots given back
  double extra_tokens = 0;          ///< tokens used beyond what was reserved for them (charged now)
  std::int64_t pause_us = 0;        ///< the server said to pause: every holder pauses this long from now
  double request_interval_us = 0;   ///< 0: no request limit
  double token_interval_us = 0;     ///< 0: no token limit
  std::int64_t concurrency = 0;     ///< slots in all; 0: no shared concurrency limit
  std::int64_t lease_us = 10'000'000;
};

struct QuotaGrant {
  std::int64_t requests_in_us = 0;  ///< the first granted request slot is due this long after the step
  std::int64_t tokens_in_us = 0;    ///< the same for the token slots
  std::int64_t slots = 0;           ///< concurrency slots granted (now held, with the ones held before)
  std::int64_t paused_for_us = 0;   ///< the shared pause left, 0: none
  std::int64_t fair_slots = 0;      ///< a holder's fair share of the slots (all of them over the holders)
};

/// One shared limit's store. Callbacks run on the I/O loop's thread; so do the calls.
class QuotaStore {
 public:
  /// `grant` or, when the store could not be asked, `error` (naming the store, never a password).
  using Done = std::function<void(const QuotaGrant* grant, const std::string& error)>;
  virtual ~QuotaStore() = default;
  virtual void take(const QuotaAsk& ask, Done done) = 0;
  /// "redis://host:port/db" or the file's path: for messages.
  virtual std::string describe() const = 0;
};

}  // namespace flowbatch
