#pragma once
// Each followed source's lag (SourceLag) as its reader last told it: what the progress line, the
// run's GET /status and GET /metrics show instead of an ETA.
#include <boost/json/array.hpp>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "flowbatch/source.h"

namespace flowbatch {

class FollowLags {
 public:
  struct Entry {
    std::string source;
    SourceLag lag;
  };
  /// A source's reader told its lag (after a read, from the thread that reads it). Thread-safe.
  void set(std::size_t source_index, const std::string& source, const SourceLag& lag);
  /// The sources that told, by index. Thread-safe.
  std::vector<Entry> entries() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::optional<Entry>> by_source_;
};

/// "1,234 entries (56 pending), 300 bytes": the lags summed by unit, in the sources' order; "" for none.
std::string describe_lags(const std::vector<FollowLags::Entry>& lags);
/// [{"source": "in", "unit": "entries", "lag": 1234, "pending": 56}, ...]: the unacknowledged ones
/// under their own name ("pending", "claimed"), when known.
boost::json::array lags_json(const std::vector<FollowLags::Entry>& lags);

}  // namespace flowbatch
