#include "engine/runtime/batch_token_queue.h"

#include <algorithm>

#include "engine/core/model_table.h"

namespace flowbatch {

BatchTokenQueue::BatchTokenQueue(std::map<std::string, std::int64_t, std::less<>> limits)
    : limits_(std::move(limits)) {}

std::int64_t BatchTokenQueue::limit(std::string_view model) const {
  const std::int64_t* found = model_entry(limits_, model);
  return found ? *found : 0;
}

bool BatchTokenQueue::fits(std::string_view model, std::int64_t held, std::int64_t more) const {
  const std::int64_t most = limit(model);
  return most == 0 || held == 0 || held + more <= most;
}

bool BatchTokenQueue::too_large(std::string_view model, std::int64_t tokens) const {
  const std::int64_t most = limit(model);
  return most > 0 && tokens > most;
}

/// A job goes when the provider has not refused one since the model's last job ended, and the
/// jobs in progress leave room for it, or none is (a job is never larger than the limit: waiting
/// would free nothing).
bool BatchTokenQueue::room(const Model& m, std::int64_t limit, std::int64_t tokens) const {
  return !m.held && (limit == 0 || m.in_progress == 0 || m.in_progress + tokens <= limit);
}

void BatchTokenQueue::count(const std::string& key, Job job) {
  Model& m = models_[job.model];
  m.in_progress += job.tokens;
  peak_ = std::max(peak_, m.in_progress);
  enqueued_.insert_or_assign(key, std::move(job));
}

bool BatchTokenQueue::offer(const std::string& key, const std::string& model, std::int64_t tokens) {
  // Counted without a limit too: a refusal by the provider holds the model all the same.
  Model& m = models_[model];
  if (m.parked.empty() && room(m, limit(model), tokens)) {
    count(key, Job{model, tokens});
    return true;
  }
  m.parked.push_back(key);
  parked_jobs_.insert_or_assign(key, Job{model, tokens});
  return false;
}

void BatchTokenQueue::enqueued(const std::string& key, const std::string& model, std::int64_t tokens) {
  if (!enqueued_.contains(key)) count(key, Job{model, tokens});
}

std::vector<std::string> BatchTokenQueue::release(const std::string& key) {
  const auto found = enqueued_.find(key);
  if (found == enqueued_.end()) return {};
  const std::string model = found->second.model;
  Model& m = models_[model];
  m.in_progress -= found->second.tokens;
  m.held = false;  // one of ours ended: the provider's queue has that room at least
  enqueued_.erase(found);
  return drain(model);
}

int BatchTokenQueue::refused(const std::string& key) {
  const auto found = enqueued_.find(key);
  if (found == enqueued_.end()) return 0;  // not offered, or parked already: nothing changes
  Job job = std::move(found->second);
  enqueued_.erase(found);
  Model& m = models_[job.model];
  m.in_progress -= job.tokens;
  m.held = true;
  m.parked.push_front(key);
  parked_jobs_.insert_or_assign(key, std::move(job));
  return ++m.refusals;
}

std::vector<std::string> BatchTokenQueue::retry(const std::string& model) {
  models_[model].held = false;
  return drain(model);
}

void BatchTokenQueue::accepted(const std::string& key) {
  if (auto found = enqueued_.find(key); found != enqueued_.end()) models_[found->second.model].refusals = 0;
}

/// The parked jobs of a model that may go now, oldest first: they count as enqueued.
std::vector<std::string> BatchTokenQueue::drain(const std::string& model) {
  std::vector<std::string> ready;
  Model& m = models_[model];
  const std::int64_t most = limit(model);
  while (!m.parked.empty()) {
    const std::string key = m.parked.front();
    const auto job = parked_jobs_.find(key);
    if (!room(m, most, job->second.tokens)) break;
    m.parked.pop_front();
    count(key, std::move(job->second));
    parked_jobs_.erase(job);
    ready.push_back(key);
  }
  return ready;
}

std::int64_t BatchTokenQueue::in_progress(std::string_view model) const {
  const auto found = models_.find(model);
  return found == models_.end() ? 0 : found->second.in_progress;
}

std::size_t BatchTokenQueue::parked(std::string_view model) const {
  const auto found = models_.find(model);
  return found == models_.end() ? 0 : found->second.parked.size();
}

}  // namespace flowbatch
