#include "mock_server/stats.h"

#include <boost/json.hpp>

#include <algorithm>

namespace flowbatch::mock {

void Stats::MinuteWindow::add(std::int64_t second) {
  const auto slot = static_cast<std::size_t>(second % 60);
  if (second_of_slot_[slot] != second) {
    second_of_slot_[slot] = second;
    counts_[slot] = 0;
  }
  ++counts_[slot];
  std::uint64_t window = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i)
    if (second_of_slot_[i] > second - 60) window += counts_[i];
  peak_ = std::max(peak_, window);
}

void Stats::on_arrival(std::string_view route, std::chrono::steady_clock::time_point now) {
  // Seconds are counted from 1 so that a never-used slot (second 0) can never look current.
  const std::int64_t second = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() + 1;
  const std::lock_guard lock(mutex_);
  ++requests_;
  auto it = by_route_.find(route);
  if (it == by_route_.end()) it = by_route_.emplace(std::string(route), 0).first;
  ++it->second;
  peak_concurrency_ = std::max(peak_concurrency_, ++in_flight_);
  per_minute_.add(second);
}

std::int64_t Stats::in_flight() const {
  const std::lock_guard lock(mutex_);
  return in_flight_;
}

void Stats::on_connection() {
  const std::lock_guard lock(mutex_);
  ++connections_;
}

void Stats::on_answered(unsigned status, std::uint64_t request_hash) {
  const std::lock_guard lock(mutex_);
  ++by_status_[status];
  if (status == 200 && request_hash != 0 && !answered_ok_.insert(request_hash).second) ++repeated_ok_;
  --in_flight_;
}

void Stats::on_dropped() {
  const std::lock_guard lock(mutex_);
  --in_flight_;
}

void Stats::on_fault(Fault fault) {
  const std::lock_guard lock(mutex_);
  ++faults_[fault];
}

void Stats::on_rate_limited() {
  const std::lock_guard lock(mutex_);
  ++rate_limited_;
}

void Stats::add_tokens(std::int64_t tokens) {
  const std::lock_guard lock(mutex_);
  tokens_ += tokens;
}

void Stats::on_batch_created() {
  const std::lock_guard lock(mutex_);
  ++batches_;
}

void Stats::on_batch_line(std::uint64_t content, const std::string& custom_id) {
  const std::lock_guard lock(mutex_);
  ++batch_lines_;
  ++batches_per_content_[content];
  ++batches_per_custom_id_[custom_id];
}

void Stats::on_batch_packed_inputs_answered(const std::vector<std::uint64_t>& inputs) {
  const std::lock_guard lock(mutex_);
  for (const auto input : inputs) ++batches_per_packed_input_[input];
}

void Stats::on_batch_cancelled() {
  const std::lock_guard lock(mutex_);
  ++batches_cancelled_;
}

void Stats::on_batch_enqueued(std::int64_t enqueued) {
  const std::lock_guard lock(mutex_);
  batch_enqueued_peak_ = std::max(batch_enqueued_peak_, enqueued);
}

void Stats::on_batch_queue_full() {
  const std::lock_guard lock(mutex_);
  ++batches_queue_full_;
}

namespace {

/// {"distinct": N, "max": M, "several": K}: how many keys, the most batches one was in, how many were in more than one.
template <class Map>
boost::json::object submissions(const Map& counts) {
  std::uint32_t most = 0;
  std::uint64_t several = 0;
  for (const auto& [key, n] : counts) {
    most = std::max(most, n);
    if (n > 1) ++several;
  }
  return {{"distinct", counts.size()}, {"max", most}, {"several", several}};
}

}  // namespace

std::string Stats::to_json() const {
  const std::lock_guard lock(mutex_);
  boost::json::object by_status;
  for (const auto& [status, count] : by_status_) by_status[std::to_string(status)] = count;
  boost::json::object by_route;
  for (const auto& [route, count] : by_route_) by_route[route] = count;
  boost::json::object faults;
  for (Fault f : {Fault::server_error, Fault::reset, Fault::malformed, Fault::truncated, Fault::hang, Fault::quota,
                  Fault::trickle}) {
    const auto it = faults_.find(f);
    faults[fault_name(f)] = it == faults_.end() ? 0 : it->second;
  }
  const boost::json::object stats{
      {"requests", requests_},
      {"by_status", std::move(by_status)},
      {"by_route", std::move(by_route)},
      {"peak_concurrency", peak_concurrency_},
      {"in_flight", in_flight_},
      {"per_minute_peak", per_minute_.peak()},
      {"rate_limited", rate_limited_},
      {"faults", std::move(faults)},
      {"tokens", tokens_},
      {"connections", connections_},
      {"repeated_answers", repeated_ok_},
      {"batch",
       {{"batches", batches_},
        {"lines", batch_lines_},
        {"cancelled", batches_cancelled_},
        {"enqueued_tokens_peak", batch_enqueued_peak_},
        {"queue_full", batches_queue_full_},
        {"per_request", submissions(batches_per_content_)},
        {"per_custom_id", submissions(batches_per_custom_id_)},
        {"per_packed_input", submissions(batches_per_packed_input_)}}},
  };
  return boost::json::serialize(stats);
}

void Stats::reset() {
  const std::lock_guard lock(mutex_);
  requests_ = 0;
  by_status_.clear();
  by_route_.clear();
  peak_concurrency_ = in_flight_;
  per_minute_.clear();
  rate_limited_ = 0;
  faults_.clear();
  tokens_ = 0;
  connections_ = 0;
  answered_ok_.clear();
  repeated_ok_ = 0;
  batches_ = batch_lines_ = batches_cancelled_ = batches_queue_full_ = 0;
  batch_enqueued_peak_ = 0;
  batches_per_content_.clear();
  batches_per_custom_id_.clear();
  batches_per_packed_input_.clear();
}

}  // namespace flowbatch::mock
