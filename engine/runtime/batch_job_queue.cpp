// BatchJobs and the provider's queue of enqueued tokens (batch_token_queue.h): a line's tokens,
// jobs parked until there is room, created as jobs end, and the provider's refusals for its queue.
#include <fmt/format.h>

#include <algorithm>

#include "engine/runtime/batch_job_parts.h"
#include "engine/runtime/report.h"
#include "engine/runtime/run_state.h"

namespace flowbatch {
namespace {

constexpr std::chrono::milliseconds kQueueRetryFloor{2000};  // the back-off of a job whose call is not known yet

std::string tokens_text(std::int64_t n) {
  return with_commas(static_cast<std::uint64_t>(std::max<std::int64_t>(0, n)));
}

}  // namespace

void BatchJobs::too_large(const ExchangePtr& ex, const std::string& model, std::int64_t tokens) {
  const std::string why = fmt::format(
      "its prompt, about {} tokens, is more than the provider's batch queue holds for {} ({}: "
      "batch_enqueued_tokens)",
      tokens_text(tokens), model, tokens_text(queue_.limit(model)));
  if (ex->batch->mode == CallMode::automatic) return resend(ex, why);
  fail(ex, make_failure(ErrorClass::invalid_request, why));
}

void BatchJobs::offer(const std::string& key) {
  Job& job = *jobs_.at(key);
  job.counted = true;
  if (queue_.offer(key, job.model, job.record.tokens)) return start(key);
  set_parked(job, true);
  run_.metrics.batch_jobs_parked.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t limit = queue_.limit(job.model);
  log_.info("batch job {}: {} request{} of {} wait for room in the batch queue of {} ({} tokens; {} of {} enqueued)",
            key, job.lines.size(), job.lines.size() == 1 ? "" : "s", job.record.node, job.model,
            tokens_text(job.record.tokens), tokens_text(queue_.in_progress(job.model)),
            limit > 0 ? tokens_text(limit) : std::string("no limit"));
  ensure_polling();
}

void BatchJobs::go(const std::vector<std::string>& keys) {
  for (const auto& key : keys) {
    Job& job = *jobs_.at(key);
    set_parked(job, false);
    if (stopping_) continue;  // its requests were abandoned: nothing left to create
    if (outside_window()) {
      dissolve(key);
    } else if (job.record.status == "parked") {
      start(key);
    } else {  // refused by the provider before: recorded, and uploaded where the API uploads
      create(key);
    }
  }
}

/// A parked job that may not be created now after all (the run window closed): its requests are
/// collected again (and wait for the window). One the provider refused before was recorded: it is
/// given up as any job that never became a batch.
void BatchJobs::dissolve(const std::string& key) {
  Job& job = *jobs_.at(key);
  if (job.record.status != "parked") return give_up(key);
  job.record.status = "abandoned";
  job.input.clear();
  std::unordered_map<std::string, std::vector<ExchangePtr>> waiting;
  waiting.swap(job.waiting);
  forget_lines(job);
  release_room(key);
  for (auto& [id, exchanges] : waiting)
    for (auto& ex : exchanges) collect(ex);
}

void BatchJobs::release_room(const std::string& key) { go(queue_.release(key)); }

void BatchJobs::set_parked(Job& job, bool parked) {
  if (job.parked == parked) return;
  job.parked = parked;
  run_.metrics.batch_jobs_waiting.fetch_add(parked ? 1 : -1, std::memory_order_relaxed);
}

void BatchJobs::count_attached(Job& job, const Exchange& ex) {
  if (job.counted || job.record.status == "ended") return;
  job.counted = true;
  job.model = std::string(model_of(ex.request));
  queue_.enqueued(job.record.key, job.model, job.record.tokens);
}

/// The provider refused the job for its queue (its batch failed with no line run, or the create
/// was refused outright: OpenAI's enqueued-token limit, or a 429 such as Anthropic's limit on
/// requests in its processing queue): it goes back to its upload and waits for a job of its model
/// to end, or for a back-off that grows while the refusals go on (other programs may hold the queue).
void BatchJobs::queue_refused(const std::string& key, const BatchJobStatus& status,
                              std::chrono::milliseconds at_least) {
  Job& job = *jobs_.at(key);
  end_recovery(job);
  job.busy = false;
  if (job.sample.url.empty()) {
    // An earlier run's job (its lost create found refused): this run knows neither its lines nor
    // where they go. None of them ran: its requests go into a new job, as for a create never made.
    log_.info("batch job {}: refused for the batch queue of {}; its requests go into a new job", key, job.model);
    return give_up(key);
  }
  job.record.batch_id.clear();
  job.record.provider_status = status.status;
  job.record.status = job.record.upload_id.empty() ? "submitting" : "uploaded";  // no create under way
  record(job);
  if (!job.counted) {  // an earlier run's job no request attached to yet
    job.counted = true;
    queue_.enqueued(key, job.model, job.record.tokens);
  }
  const int refusals = queue_.refused(key);
  set_parked(job, true);
  run_.metrics.batch_queue_refusals.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t limit = queue_.limit(job.model);
  const std::string said = run_.redactor.redact(status.error.empty() ? status.status : status.error);
  if (!queue_warned_.insert(job.model).second) {
    log_.debug("batch job {}: refused for the batch queue of {} again ({} in a row)", key, job.model, refusals);
  } else if (status.status == kCreateRateLimited) {
    // A 429: the provider's limits, whatever they count (Anthropic's requests in its queue).
    log_.warn(
        "batch job {}: the provider refused to create it for now ({}); jobs of {} wait for one to end, "
        "or for a back-off that grows, and are created then",
        key, said, job.model);
  } else {
    log_.warn(
        "batch job {}: the provider's batch queue for {} is full ({}); jobs of {} wait for one to end and are created "
        "then{}",
        key, job.model, said, job.model,
        limit > 0 ? fmt::format(" (this run had {} of its {} tokens enqueued: other jobs use the queue too)",
                                tokens_text(queue_.in_progress(job.model)), tokens_text(limit))
                  : fmt::format(" (set [providers.{}] batch_enqueued_tokens = {{ \"{}\" = N }} to plan for it)",
                                lane_.spec().name, job.model));
  }
  const auto base = job.settings ? job.settings->poll_interval : kQueueRetryFloor;
  const std::chrono::milliseconds wait = std::max(
      at_least,
      std::min<std::chrono::milliseconds>(kMaxBatchPollInterval, base * (1 << std::clamp(refusals - 1, 0, 12))));
  later(wait, [this, model = job.model] { go(queue_.retry(model)); });
  ensure_polling();
}

}  // namespace flowbatch
