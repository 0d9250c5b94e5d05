// BatchJobs' polling and results (batch_jobs.h): one poller per provider whose interval grows
// while nothing changes, the results of an ended job fetched, and each line's answer handed to the
// requests it answers (its usage shared among them, an answer by position picked for each item),
// or the request sent again (a new job, or online in auto mode).
#include <fmt/format.h>

#include <algorithm>

#include "engine/runtime/batch_job_parts.h"
#include "engine/runtime/run_state.h"

namespace flowbatch {

void BatchJobs::ensure_polling() {
  if (poll_scheduled_ || stopping_) return;
  poll_scheduled_ = true;
  for (const auto& [key, job] : jobs_)
    if (job->settings && (base_interval_.count() == 0 || job->settings->poll_interval < base_interval_))
      base_interval_ = job->settings->poll_interval;
  if (interval_.count() == 0) interval_ = base_interval_;
  run_.loop.after_skippable(
      interval_, [this] { poll(); },
      [this] {
        std::lock_guard guard(mutex_);
        poll_scheduled_ = false;
        abandon_everything();
      });
}

/// One round: each job someone waits for is asked how it goes; a job an earlier run left without
/// a batch id is looked for first. The next round comes later while nothing changes.
void BatchJobs::poll() {
  std::lock_guard lock(mutex_);
  poll_scheduled_ = false;
  if (stopping_) return;
  bool any = false;
  for (auto& [key, job] : jobs_) {
    if (job->waiting.empty() || job->results) continue;
    any = true;
    if (job->busy || job->parked) continue;
    if (job->record.batch_id.empty()) {
      recover(key, {}, 0);
      continue;
    }
    const bool late = job->settings && job->settings->mode == CallMode::automatic &&
                      RunState::unix_ms() > job->record.created_unix_ms + job->settings->deadline.count();
    job->busy = true;
    const std::string id = job->record.batch_id;
    const bool cancel = late && !job->cancel_sent;
    if (cancel) {
      job->cancel_sent = true;
      log_.info("batch job {} is past its batch_deadline: cancelled, what is left goes online", key);
    }
    send(cancel ? api_.cancel(id) : api_.get(id), [this, key = key](const HttpResponse& response) {
      std::lock_guard guard(mutex_);
      polled(key, api_.read_job(response), response);
    });
  }
  if (any) ensure_polling();
}

void BatchJobs::polled(const std::string& key, std::variant<BatchJobStatus, Failure> answer,
                       const HttpResponse& poll_response) {
  Job& job = *jobs_.at(key);
  job.busy = false;
  if (stopping_) return;
  if (auto* failure = std::get_if<Failure>(&answer)) {
    if (stops_run(*failure, poll_response)) return;  // the job runs on: the next run collects it
    log_.warn("batch job {}: cannot poll it: {}", key, run_.redactor.redact(failure->message));
    return;
  }
  const BatchJobStatus& status = std::get<BatchJobStatus>(answer);
  const bool changed = status.status != job.record.provider_status || status.succeeded != job.record.succeeded ||
                       status.errored != job.record.errored;
  job.record.provider_status = status.status;
  job.record.succeeded = status.succeeded;
  job.record.errored = status.errored;
  // Polling is cheap while things move, and backs off while they do not.
  interval_ = changed ? base_interval_ : std::min(kMaxBatchPollInterval, interval_ * 3 / 2);
  if (changed) record(job);
  if (!status.ended) return;
  if (status.queue_full) return queue_refused(key, status);
  release_room(key);  // out of the provider's queue, whatever its end
  if (status.refused) {
    job.refused = status.error.empty() ? "its input did not validate" : status.error;
    return give_up(key);
  }
  job.busy = true;
  job.fetched.clear();
  job.fetches_left = status.results.size();
  if (status.results.empty()) {
    job.results.emplace();
    return deliver_all(job);
  }
  for (const auto& what : status.results) {
    auto request = api_.fetch(what);
    if (!request) {
      log_.warn("batch job {}: its results are at {}, not the provider's own host: not fetched", key, what);
      --job.fetches_left;
      continue;
    }
    send(std::move(*request), [this, key](const HttpResponse& response) {
      std::lock_guard guard(mutex_);
      Job& current = *jobs_.at(key);
      if (response.transport_error || response.status < 200 || response.status >= 300) {
        current.busy = false;  // fetched again on the next round
        current.fetches_left = 0;
        return;
      }
      for (auto& line : api_.read_results(response.body)) current.fetched[line.custom_id] = std::move(line);
      if (--current.fetches_left == 0) {
        current.results = std::move(current.fetched);
        deliver_all(current);
      }
    });
  }
  if (job.fetches_left == 0 && !job.results) {
    job.results = std::move(job.fetched);
    deliver_all(job);
  }
}

void BatchJobs::deliver_all(Job& job) {
  job.busy = false;
  job.record.status = "ended";
  record(job);
  std::unordered_map<std::string, std::vector<ExchangePtr>> waiting;
  waiting.swap(job.waiting);
  for (auto& [id, exchanges] : waiting)
    for (auto& ex : exchanges) deliver(job, ex);
}

/// One request's line: its answer goes on as an online answer would; a line not answered
/// (expired, cancelled, missing) is sent again.
void BatchJobs::deliver(Job& job, const ExchangePtr& ex) {
  const auto found = job.results->find(ex->custom_id);
  if (found == job.results->end() || !found->second.answered)
    return resend(ex, found == job.results->end() ? "not in the batch's results" : found->second.why);
  ex->response = found->second.response;
  share_line(job, *ex);
  ex->started = std::chrono::steady_clock::now();  // its latency is the batch's, not a request's
  run_.metrics.batch_items.fetch_add(ex->items.size(), std::memory_order_relaxed);
  lane_.deliver_batched(ex);
}

/// A line's answer counts once however many requests it answers: each its items' share, an item
/// counted once. Its items are answered now: a request for them from here on is a new one. An
/// answer by position is read at each item's place in the line (line_positions), unless the
/// items are the line's, in its order; an item the line does not hold gets the line's size: no
/// answer.
void BatchJobs::share_line(Job& job, Exchange& ex) {
  const auto named = job.line_named.find(ex.custom_id);
  if (named == job.line_named.end()) return;  // not one of its lines (cannot be): counted whole
  Line* line = named->second;
  const std::size_t before = line->counted.size();
  std::size_t fresh = 0;
  std::vector<std::size_t> positions;
  bool as_sent = ex.items.size() == line->items.size();
  for (const Item& item : ex.items) {
    const std::uint64_t key = item_key(job.record.node, item);
    if (auto held = line_of_item_.find(key); held != line_of_item_.end() && held->second == line)
      line_of_item_.erase(held);
    const auto at = std::find(line->items.begin(), line->items.end(), key);
    positions.push_back(static_cast<std::size_t>(at - line->items.begin()));
    as_sent = as_sent && positions.back() == positions.size() - 1;
    const bool of_line = at != line->items.end();
    const bool counted = std::find(line->counted.begin(), line->counted.end(), key) != line->counted.end();
    if (of_line && !counted) {
      line->counted.push_back(key);
      ++fresh;
    }
  }
  if (line->items.empty()) {  // a line recorded without its items: the first request counts it all
    ex.line_shared_before = 0;
    ex.line_share = line->counted_once ? 0 : 1;
    ex.line_share_of = 1;
    line->counted_once = true;
    return;
  }
  ex.line_shared_before = before;
  ex.line_share = fresh;
  ex.line_share_of = line->items.size();
  if (answers_by_position(ex.request) && !as_sent) ex.line_positions = std::move(positions);
}

/// A job that never became a batch: its lines hold nothing.
void BatchJobs::forget_lines(const Job& job) {
  for (const Line& line : job.lines) {
    job_of_.erase(line.custom_id);
    for (const auto item : line.items)
      if (auto held = line_of_item_.find(item); held != line_of_item_.end() && held->second == &line)
        line_of_item_.erase(held);
  }
}

/// In auto mode online; in batch mode in a new job (its custom id moves there).
void BatchJobs::resend(const ExchangePtr& ex, const std::string& why) {
  job_of_.erase(ex->custom_id);
  renew_custom_id(*ex);
  if (ex->batch->mode == CallMode::automatic) {
    log_.debug("{} goes online: {}", ex->custom_id, why);
    run_.metrics.batch_online_items.fetch_add(ex->items.size(), std::memory_order_relaxed);
    ex->batched = false;
    ex->response = HttpResponse{};
    lane_.release_unsent(*ex);  // the online path holds the cap for it anew, at the online price
    lane_.send_online(ex);
    return;
  }
  log_.debug("{} goes into a new batch job: {}", ex->custom_id, why);
  collect(ex);
}

void BatchJobs::abandon(const ExchangePtr& ex) {
  ex->abandoned = true;
  lane_.deliver_batched(ex);
}

void BatchJobs::fail(const ExchangePtr& ex, Failure failure) {
  ex->response = HttpResponse{};
  ex->response.transport_error = std::move(failure);
  lane_.deliver_batched(ex);
}

}  // namespace flowbatch
