#pragma once
// What the HTML report shows of failures and slow requests beyond the counts: each error class's
// most frequent messages with a few example item ids, and the slowest requests. Both bounded,
// whatever the run's length: a few dozen messages per class, a few ids each, ten requests.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "flowbatch/error_class.h"

namespace flowbatch {

class FailureSamples {
 public:
  /// Distinct messages kept per class; later new ones are counted as "other messages".
  static constexpr std::size_t kMessagesPerClass = 32;
  static constexpr std::size_t kExampleIds = 3;

  struct Message {
    std::string text;
    std::uint64_t attempts = 0;  ///< failed attempts that said it
    std::uint64_t dead = 0;      ///< dead-lettered items whose final failure said it
    std::vector<std::string> example_ids;
  };
  struct ClassSamples {
    std::vector<Message> messages;  ///< in order of first sight
    Message other;                  ///< the messages that came once kMessagesPerClass were kept
  };

  /// A failed attempt (`dead` false) or a dead-lettered item (`dead` true) of `id`. Thread-safe.
  void note(ErrorClass c, std::string_view message, std::string_view id, bool dead);
  /// The class's `n` most frequent messages (attempts and dead letters together), most first, and
  /// what the others add up to.
  std::vector<Message> top(ErrorClass c, std::size_t n, Message& rest) const;

 private:
  mutable std::mutex mutex_;
  std::array<ClassSamples, kAllErrorClasses.size()> classes_;  // guarded by mutex_
};

/// The slowest requests so far: their latency, the call node, the first item's id and how many
/// items the request carried (a packed request is one request).
class SlowestRequests {
 public:
  static constexpr std::size_t kKept = 10;

  struct Entry {
    double latency_ms = 0;
    std::string node;
    std::string first_id;
    std::size_t items = 0;
    std::uint32_t attempt = 0;  ///< the first item's attempt number
  };
  /// A request answered after `latency`. Thread-safe; cheap for one faster than all kept.
  void offer(std::chrono::nanoseconds latency, std::string_view node, std::string_view first_id, std::size_t items,
             std::uint32_t attempt);
  /// Slowest first.
  std::vector<Entry> entries() const;

 private:
  std::atomic<std::int64_t> floor_ns_{0};  ///< a request this fast or faster would not be kept
  mutable std::mutex mutex_;
  std::vector<Entry> kept_;  // guarded by mutex_; unordered
};

}  // namespace flowbatch
