#include "engine/runtime/follow_lag.h"

#include <fmt/format.h>
#include <algorithm>
#include <boost/json/object.hpp>

#include "engine/runtime/report.h"

namespace flowbatch {

void FollowLags::set(std::size_t source_index, const std::string& source, const SourceLag& lag) {
  const std::lock_guard lock(mutex_);
  if (by_source_.size() <= source_index) by_source_.resize(source_index + 1);
  std::optional<Entry>& entry = by_source_[source_index];
  if (!entry) entry = Entry{source, lag};
  else entry->lag = lag;
}

std::vector<FollowLags::Entry> FollowLags::entries() const {
  const std::lock_guard lock(mutex_);
  std::vector<Entry> out;
  for (const auto& entry : by_source_)
    if (entry) out.push_back(*entry);
  return out;
}

std::string describe_lags(const std::vector<FollowLags::Entry>& lags) {
  // Sources of one unit (two streams) add up: the line says how far behind the run is, in all.
  std::vector<SourceLag> totals;
  for (const FollowLags::Entry& entry : lags) {
    const SourceLag& lag = entry.lag;  // not a structured binding: clang before 16 cannot capture one
    auto same = std::find_if(totals.begin(), totals.end(), [&](const SourceLag& t) {
      return t.unit == lag.unit && t.unacknowledged_name == lag.unacknowledged_name;
    });
    if (same == totals.end()) {
      totals.push_back(lag);
      continue;
    }
    same->count += lag.count;
    if (lag.unacknowledged) same->unacknowledged = same->unacknowledged.value_or(0) + *lag.unacknowledged;
  }
  std::string out;
  for (const SourceLag& t : totals) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", with_commas(t.count), t.unit);
    if (t.unacknowledged) out += fmt::format(" ({} {})", with_commas(*t.unacknowledged), t.unacknowledged_name);
  }
  return out;
}

boost::json::array lags_json(const std::vector<FollowLags::Entry>& lags) {
  boost::json::array out;
  for (const auto& [source, lag] : lags) {
    boost::json::object o{{"source", source}, {"unit", lag.unit}, {"lag", lag.count}};
    if (lag.unacknowledged) o[lag.unacknowledged_name] = *lag.unacknowledged;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace flowbatch
