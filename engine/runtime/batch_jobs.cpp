#include "engine/runtime/batch_jobs.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <random>
#include <tuple>
#include <utility>

#include "engine/core/backoff.h"
#include "engine/core/hash.h"
#include "engine/core/text.h"
#include "engine/runtime/batch_job_parts.h"
#include "engine/runtime/item_ledger.h"
#include "engine/runtime/run_state.h"
#include "engine/runtime/run_window_gate.h"

namespace flowbatch {
namespace {

constexpr std::chrono::milliseconds kBatchCreateRetry{2000};
constexpr std::chrono::milliseconds kBatchFailureMaxWait{5 * 60 * 1000};  // jobs failing to be created, in a row
constexpr std::chrono::milliseconds kBatchCreateWait{50};                 // for the create before it (see create())
constexpr int kMaxBatchListPages = 20;  // looking for a lost create: the newest 2,000 batches

bool batch_retryable(const Failure& f) {
  switch (f.error_class) {
    case ErrorClass::rate_limit:
    case ErrorClass::server:
    case ErrorClass::timeout:
    case ErrorClass::network:
    case ErrorClass::malformed: return true;
    default: return false;
  }
}

/// A create answered 429: no batch exists, as when the queue refuses one outright.
BatchJobStatus refused_for_limits(const Failure& f) {
  BatchJobStatus status;
  status.status = std::string(kCreateRateLimited);
  status.error = f.message;
  status.ended = status.refused = status.queue_full = true;
  return status;
}

}  // namespace

namespace {

std::string item_keys_text(const std::vector<std::uint64_t>& keys) {
  std::vector<std::string> text;
  text.reserve(keys.size());
  for (const auto key : keys) text.push_back(hex16(key));
  return join(text, " ");
}

std::vector<std::uint64_t> item_keys_of(const std::vector<std::string>& text) {
  std::vector<std::uint64_t> keys;
  for (const auto& word : text) {
    std::uint64_t key = 0;
    if (std::from_chars(word.data(), word.data() + word.size(), key, 16).ec == std::errc()) keys.push_back(key);
  }
  return keys;
}

}  // namespace

BatchJobs::BatchJobs(ProviderLane& lane, const BatchApi& api, RunState& run, HttpClient& http, TransferOptions transfer,
                     Logger log, std::string pipeline)
    : lane_(lane),
      api_(api),
      run_(run),
      http_(http),
      transfer_(transfer),
      log_(std::move(log)),
      pipeline_(std::move(pipeline)),
      queue_(lane.spec().settings.batch_enqueued_tokens) {}

BatchJobs::~BatchJobs() = default;

/// The jobs an earlier run of this state left, so that their requests re-attach. Under mutex_.
void BatchJobs::load() {
  if (loaded_) return;
  loaded_ = true;
  if (!run_.store) return;
  for (auto& [record, lines] : run_.store->batch_jobs(lane_.spec().name)) {  // oldest first
    auto job = std::make_unique<Job>();
    job->record = std::move(record);
    for (auto& stored : lines) {
      Line& line = job->add_line(Line{std::move(stored.custom_id), item_keys_of(stored.items), {}, false});
      job_of_[line.custom_id] = job->record.key;
      // An item in several lines was sent again after an earlier line answered it: the newest
      // line is the one whose answer it has not had.
      for (const auto item : line.items) line_of_item_[item] = &line;
    }
    if (job->record.status != "ended")
      log_.info("batch job {} ({}) from an earlier run: its requests re-attach to it", job->record.key,
                job->record.batch_id.empty() ? "its create got no answer" : job->record.batch_id);
    const std::string key = job->record.key;
    const bool lost = job->record.batch_id.empty();
    jobs_.emplace(key, std::move(job));
    // Found (or given up) before this run creates any batch: a lost create is told apart from
    // this run's own batches by their being known.
    if (lost) recover(key, {}, 0);
  }
}

/// Stable across runs: the call, its items (id, line and attempt). A resumed run makes the
/// same request again with the same custom id, and finds it in the job that holds it.
std::string BatchJobs::custom_id_of(const Exchange& ex) const {
  std::vector<std::tuple<std::string_view, std::uint64_t, std::uint32_t>> items;
  for (const Item& item : ex.items) items.emplace_back(item.id, item.line, item.attempts);
  std::sort(items.begin(), items.end());
  std::uint64_t h = stable_hash(ex.batch->node);
  for (const auto& [id, line, attempt] : items)
    h = hash_combine(hash_combine(hash_combine(h, stable_hash(id)), line), attempt);
  // Items a transform made of one record share its id and line: their requests tell them apart. A
  // pack's request is left out: its items are shuffled anew each time, its item set is what stays.
  if (ex.items.size() == 1) h = hash_combine(h, stable_hash(ex.dispatch.http.body));
  return "fb-" + hex16(h);
}

std::uint64_t BatchJobs::item_key(const std::string& node, const Item& item) {
  const ItemKey k = ItemLedger::key(item);
  const std::uint64_t h = hash_combine(stable_hash(node), k.source);
  return hash_combine(hash_combine(hash_combine(h, k.line), k.hash), k.part);
}

std::optional<std::string> BatchJobs::earlier_line(const std::string& node, const Item& item) {
  std::lock_guard lock(mutex_);
  load();
  if (line_of_item_.empty()) return std::nullopt;
  const auto found = line_of_item_.find(item_key(node, item));
  if (found == line_of_item_.end() || !job_of_.contains(found->second->custom_id)) return std::nullopt;
  return found->second->custom_id;
}

void BatchJobs::renew_custom_id(Exchange& ex) const {
  if (ex.earlier_line.empty()) return;
  ex.earlier_line.clear();
  ex.custom_id = custom_id_of(ex);
}

void BatchJobs::add(ExchangePtr ex) {
  std::lock_guard lock(mutex_);
  load();
  lane_.hold();
  ex->batched = true;
  ex->started = std::chrono::steady_clock::now();
  if (!ex->earlier_line.empty() && job_of_.contains(ex->earlier_line)) ex->custom_id = ex->earlier_line;
  else ex->custom_id = custom_id_of(*ex);
  if (stopping_ || run_.hard_stopped()) return abandon(ex);
  if (auto found = job_of_.find(ex->custom_id); found != job_of_.end()) {
    // Submitted already: its price was committed when it was, the cap and the window hold no more.
    Job& job = *jobs_.at(found->second);
    if (!job.settings) job.settings = ex->batch;
    return attach(job, std::move(ex));
  }
  // A new line: the cost cap holds its worst case (at the batch price) until its answer is paid.
  if (!lane_.reserve_cost(*ex)) {
    // The run stops here; what was collected before is within the cap and goes now, so that the
    // money the cap allows is spent on work (the next run collects that job).
    const std::string& node = ex->batch->node;
    if (auto c = collecting_.find(node); c != collecting_.end() && !c->second->exchanges.empty()) submit(node);
    return abandon(ex);
  }
  collect(std::move(ex));
}

void BatchJobs::attach(Job& job, ExchangePtr ex) {
  if (job.results) return deliver(job, ex);
  count_attached(job, *ex);
  job.waiting[ex->custom_id].push_back(std::move(ex));
  ensure_polling();
}

void BatchJobs::collect(ExchangePtr ex) {
  if (outside_window()) return hold_for_window(std::move(ex));
  const BatchSettings& settings = *ex->batch;
  auto& slot = collecting_[settings.node];
  if (!slot) slot = std::make_unique<Collecting>();
  Collecting& c = *slot;
  c.settings = &settings;
  if (c.ids.contains(ex->custom_id)) {  // a line holds this very request already: one answer serves both
    c.followers.push_back(std::move(ex));
    return;
  }
  const std::string model(model_of(ex->request));
  // What OpenAI counts in its queue: the prompt, not the output the request may get.
  const std::int64_t tokens = ex->request.estimated_prompt_tokens();
  if (queue_.too_large(model, tokens)) return too_large(ex, model, tokens);
  std::string line = api_.line(ex->custom_id, ex->dispatch.http);
  const std::size_t max_items = settings.max_items ? std::min(settings.max_items, api_.max_lines()) : api_.max_lines();
  // A job holds one model's requests (OpenAI's rule; the queue is per model), within the limits.
  const bool full =
      c.lines.size() + line.size() + 1 > api_.max_bytes() || model != c.model || !queue_.fits(model, c.tokens, tokens);
  if (!c.exchanges.empty() && full) submit(settings.node);
  c.model = model;
  c.tokens += tokens;
  c.lines += line;
  c.lines += '\n';
  c.ids.insert(ex->custom_id);
  c.exchanges.push_back(std::move(ex));
  c.last_added = std::chrono::steady_clock::now();
  if (c.exchanges.size() == 1) c.first_added = c.last_added;
  if (c.exchanges.size() >= max_items) return submit(settings.node);
  if (!c.timer) {
    c.timer = true;
    collect_timer(settings);
  }
}

/// A job leaves once no request came for `collect`: the requests that come together go together.
void BatchJobs::collect_timer(const BatchSettings& settings) {
  const std::string node = settings.node;
  run_.loop.after_skippable(
      settings.collect,
      [this, node] {
        std::lock_guard guard(mutex_);
        Collecting& c = *collecting_.at(node);
        const auto now = std::chrono::steady_clock::now();
        // A steady trickle of requests does not hold a job back for ever: ten quiet periods at most.
        const bool waited_enough = now - c.first_added >= 10 * c.settings->collect;
        if (c.exchanges.empty()) {
          c.timer = false;
        } else if (now - c.last_added < c.settings->collect && !waited_enough) {
          collect_timer(*c.settings);
        } else {
          c.timer = false;
          submit(node);
        }
      },
      [this] {
        std::lock_guard guard(mutex_);
        abandon_everything();
      });
}

/// Whether [pipeline] window is closed now: no job is created then (jobs created before are
/// polled and collected all the same: that spends nothing new).
bool BatchJobs::outside_window() const { return until_window_opens(run_).count() > 0; }

/// A request that would make a new job outside the run window waits for it to open (or, with
/// window_exit, the run stops resumably); then it is collected again. Under mutex_.
void BatchJobs::hold_for_window(ExchangePtr ex) {
  if (stop_outside_window(run_)) return abandon(ex);
  held_for_window_.push_back(std::move(ex));
  if (window_timer_) return;
  window_timer_ = true;
  const auto wait = until_window_opens(run_);
  log_.info("{}", window_wait_note(run_, "batch jobs", wait));
  later(wait, [this] {
    window_timer_ = false;
    std::vector<ExchangePtr> held;
    held.swap(held_for_window_);
    for (auto& again : held) collect(std::move(again));  // the window is checked again: a clock change waits anew
  });
}

/// Makes a job of what a call gathered; in auto mode, too few requests go online instead.
void BatchJobs::submit(const std::string& node) {
  Collecting& c = *collecting_.at(node);
  std::vector<ExchangePtr> exchanges, followers;
  exchanges.swap(c.exchanges);
  followers.swap(c.followers);
  c.ids.clear();
  std::string lines;
  lines.swap(c.lines);
  const std::int64_t tokens = std::exchange(c.tokens, 0);
  if (exchanges.empty()) return;
  if (outside_window()) {  // it closed while they were collected
    for (auto& ex : exchanges) hold_for_window(std::move(ex));
    for (auto& ex : followers) hold_for_window(std::move(ex));
    return;
  }
  if (c.settings->mode == CallMode::automatic && exchanges.size() < c.settings->min_items) {
    for (auto& ex : exchanges) resend(ex, "fewer requests than batch_min_items");
    for (auto& ex : followers) resend(ex, "fewer requests than batch_min_items");
    return;
  }
  auto job = std::make_unique<Job>();
  std::mt19937_64 dice(std::random_device{}());
  job->record.key =
      fmt::format("fbjob-{}-{}", RunState::unix_ms(), hex16(hash_combine(dice(), ++next_job_)).substr(0, 8));
  job->record.provider = lane_.spec().name;
  job->record.node = node;
  job->record.status = "parked";  // until start() records it
  job->record.lines = static_cast<std::int64_t>(exchanges.size());
  job->record.tokens = tokens;
  job->model = c.model;
  job->settings = c.settings;
  job->input = std::move(lines);
  job->sample = exchanges.front()->dispatch.http;
  for (auto& ex : exchanges) {
    Line& line = job->add_line(Line{ex->custom_id, {}, {}, false});
    for (const Item& item : ex->items) {
      line.items.push_back(item_key(node, item));
      line_of_item_[line.items.back()] = &line;
    }
    job_of_[ex->custom_id] = job->record.key;
    job->waiting[ex->custom_id].push_back(std::move(ex));
  }
  for (auto& ex : followers) job->waiting[ex->custom_id].push_back(std::move(ex));
  const std::string key = job->record.key;
  jobs_.emplace(key, std::move(job));
  offer(key);
}

void BatchJobs::start(const std::string& key) {
  Job& job = *jobs_.at(key);
  job.record.status = "submitting";
  job.record.created_unix_ms = RunState::unix_ms();
  std::vector<StateStore::BatchLine> recorded;
  for (const Line& line : job.lines)
    recorded.push_back(StateStore::BatchLine{line.custom_id, {item_keys_text(line.items)}});
  try {  // before any request: a crash from here on finds the job in the state
    if (run_.store) run_.store->begin_batch_job(job.record, recorded);
  } catch (const std::exception& e) {
    run_.stop_resumable_now(fmt::format("cannot record batch job {}: {}", key, e.what()));
  }
  run_.metrics.batch_jobs.fetch_add(1, std::memory_order_relaxed);
  log_.info("batch job {}: {} request{} of {}", key, job.lines.size(), job.lines.size() == 1 ? "" : "s",
            job.record.node);
  create(key);
}

/// Uploads the lines (OpenAI), then creates the batch. Under mutex_.
void BatchJobs::create(const std::string& key) {
  Job& job = *jobs_.at(key);
  job.busy = true;
  if (api_.uploads() && job.record.upload_id.empty()) {
    send(api_.upload(key, job.input), [this, key](const HttpResponse& response) {
      std::lock_guard guard(mutex_);
      Job& current = *jobs_.at(key);
      auto uploaded = api_.read_upload(response);
      if (auto* failure = std::get_if<Failure>(&uploaded)) {
        if (stopping_) return;
        if (stops_run(*failure, response)) return give_up(key);    // no batch can come of it
        if (response.transport_error) return recover(key, {}, 0);  // it may have arrived: look for it
        if (!batch_retryable(*failure)) {  // too large, or refused: sending it again would change nothing
          current.refused = failure->message;
          return give_up(key);
        }
        return later(kBatchCreateRetry, [this, key] { create(key); });
      }
      current.record.upload_id = std::get<std::string>(uploaded);
      current.record.status = "uploaded";
      record(current);
      create(key);
    });
    return;
  }
  // Without metadata, a batch whose create got no answer is known by its time and size alone: one
  // create at a time, and none while such a batch is looked for, so that no two can be taken for
  // each other.
  if (!api_.keeps_metadata() && (recovering_ > 0 || creating_ > 0))
    return later(kBatchCreateWait, [this, key] { create(key); });
  const std::string input = api_.uploads() ? job.record.upload_id : job.input;
  // Only a job recorded as "creating" can have a batch it did not hear of: the others are given up
  // at once after a crash, and never taken for the owner of another job's batch.
  job.record.status = "creating";
  record(job);
  ++creating_;
  send(api_.create(key, pipeline_, input, job.sample), [this, key](const HttpResponse& response) {
    std::lock_guard lock(mutex_);
    --creating_;
    auto answer = api_.read_job(response);
    if (auto* failure = std::get_if<Failure>(&answer); failure && stops_run(*failure, response)) {
      // Refused, or never sent (no connection): the batch does not exist.
      if (!response.transport_error || response.could_not_connect) give_up(key);
      return;  // else it is looked for by the next run (the record says "creating")
    }
    created(key, std::move(answer), response.transport_error.has_value());
  });
}

void BatchJobs::created(const std::string& key, std::variant<BatchJobStatus, Failure> answer, bool transport) {
  Job& job = *jobs_.at(key);
  if (auto* failure = std::get_if<Failure>(&answer)) {
    // No answer: the batch may exist all the same. Look for it rather than create a second one.
    if (transport) return recover(key, {}, 0);
    // Too many requests, or too many in the provider's batch queue (Anthropic says both with a
    // 429): the job waits as one the queue refused, with a back-off that grows, not every 2 s.
    if (failure->error_class == ErrorClass::rate_limit)
      return queue_refused(key, refused_for_limits(*failure),
                           std::chrono::milliseconds(std::max<std::int64_t>(0, failure->retry_after_ms)));
    if (!batch_retryable(*failure)) {
      job.refused = failure->message;
      return give_up(key);
    }
    return later(kBatchCreateRetry, [this, key] { create(key); });
  }
  const BatchJobStatus& status = std::get<BatchJobStatus>(answer);
  if (status.queue_full) return queue_refused(key, status);
  end_recovery(job);
  failed_in_a_row_ = 0;
  queue_.accepted(key);
  job.busy = false;
  job.input.clear();
  job.record.batch_id = status.id;
  job.record.status = "running";
  job.record.provider_status = status.status;
  record(job);
  log_.info("batch job {} created: {}", key, status.id);
  ensure_polling();
}

/// A job whose create got no answer: finds the batch among the provider's (by its key in the
/// metadata, or for a provider without metadata by its time and size), else cleans up its upload
/// and sends its requests again. Under mutex_.
void BatchJobs::recover(const std::string& key, const std::string& cursor, int pages) {
  Job& lost = *jobs_.at(key);
  if (lost.record.status != "creating") return give_up(key);  // no create went out: no batch to find
  lost.busy = true;
  if (!lost.recovering) {
    lost.recovering = true;
    ++recovering_;
  }
  // Without metadata a batch is recognised by its time and size: none of ours may be in creation.
  if (!api_.keeps_metadata() && creating_ > 0) return later(kBatchCreateRetry, [this, key] { recover(key, {}, 0); });
  send(api_.list(cursor), [this, key, pages](const HttpResponse& response) {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    Job& job = *jobs_.at(key);
    auto page = api_.read_page(response);
    if (auto* failure = std::get_if<Failure>(&page)) {
      if (stops_run(*failure, response)) return;  // the next run looks for it again
      if (batch_retryable(*failure)) return later(kBatchCreateRetry, [this, key] { recover(key, {}, 0); });
      return give_up(key);
    }
    const BatchPage& p = std::get<BatchPage>(page);
    for (const auto& found : p.jobs) {
      const bool mine = found.job_key == key;
      bool known = false;
      for (const auto& [k, other] : jobs_) known = known || other->record.batch_id == found.id;
      const bool looks_mine = !api_.keeps_metadata() && !known && found.total == job.record.lines &&
                              found.created_unix * 1000 >= job.record.created_unix_ms - 5000;
      if (mine || looks_mine) {
        log_.info("batch job {}: found its batch {} at the provider", key, found.id);
        return created(key, found, false);
      }
    }
    if (!p.next.empty() && pages + 1 < kMaxBatchListPages) return recover(key, p.next, pages + 1);
    give_up(key);
  });
}

/// A job that never became a batch: its upload is deleted and its requests sent again (a new
/// job); a job the provider refused fails its requests. Under mutex_.
void BatchJobs::end_recovery(Job& job) {
  if (!job.recovering) return;
  job.recovering = false;
  --recovering_;
}

void BatchJobs::give_up(const std::string& key) {
  Job& job = *jobs_.at(key);
  end_recovery(job);
  job.busy = false;
  if (api_.uploads() && !job.record.upload_id.empty()) {
    send(api_.remove_upload(job.record.upload_id), [](const HttpResponse&) {});
  } else if (api_.uploads() && job.refused.empty()) {
    // The upload's answer may have been lost: it is found by its name, the job's key.
    send(api_.list_uploads(), [this, name = key + ".jsonl"](const HttpResponse& response) {
      for (const auto& upload : api_.read_uploads(response))
        if (upload.name == name) send(api_.remove_upload(upload.id), [](const HttpResponse&) {});
    });
  }
  job.record.status = "abandoned";
  record(job);
  std::unordered_map<std::string, std::vector<ExchangePtr>> waiting;
  waiting.swap(job.waiting);
  forget_lines(job);
  release_room(key);
  for (auto& [id, exchanges] : waiting)
    for (auto& ex : exchanges) {
      if (!job.refused.empty()) {
        fail(ex, make_failure(ErrorClass::invalid_request, "the provider refused the batch: " + job.refused));
      } else if (stopping_) {
        abandon(ex);
      } else {
        renew_custom_id(*ex);
        held_after_failure_.push_back(ex);
      }
    }
  if (job.refused.empty()) collect_again_later();
}

/// The requests of jobs that failed to come into being go into a new job after a pause that
/// doubles with each such failure in a row (2 s up to 5 min), so a provider that is down or
/// failing is not sent a new job every collect period, nor every parked job at once. Under mutex_.
void BatchJobs::collect_again_later() {
  ++failed_in_a_row_;
  if (failure_timer_ || held_after_failure_.empty()) return;
  failure_timer_ = true;
  const Backoff pacing{kBatchCreateRetry, kBatchFailureMaxWait, 2.0, Jitter::none};
  const auto wait = pacing.ceiling(failed_in_a_row_);
  if (failed_in_a_row_ > 1)
    log_.warn("batch jobs keep failing to be created ({} in a row): their requests wait {} s before a new job",
              failed_in_a_row_, wait.count() / 1000);
  later(wait, [this] {
    failure_timer_ = false;
    std::vector<ExchangePtr> again;
    again.swap(held_after_failure_);
    for (auto& ex : again) collect(std::move(ex));
  });
}

/// A stop: every request waiting for a job ends unanswered (its items are abandoned, for the next
/// run); the jobs themselves run on at the provider. Under mutex_.
void BatchJobs::abandon_everything() {
  if (stopping_) return;
  stopping_ = true;
  std::size_t n = 0;
  for (auto& [node, c] : collecting_) {
    n += c->exchanges.size() + c->followers.size();
    for (auto& ex : c->exchanges) abandon(ex);
    for (auto& ex : c->followers) abandon(ex);
    c->exchanges.clear();
    c->followers.clear();
    c->ids.clear();
    c->lines.clear();
  }
  for (auto& [key, job] : jobs_) {
    for (auto& [id, exchanges] : job->waiting) {
      n += exchanges.size();
      for (auto& ex : exchanges) abandon(ex);
    }
    job->waiting.clear();
  }
  n += held_for_window_.size() + held_after_failure_.size();
  for (auto& ex : held_for_window_) abandon(ex);
  held_for_window_.clear();
  for (auto& ex : held_after_failure_) abandon(ex);
  held_after_failure_.clear();
  if (n > 0)
    log_.info("stopping: {} requests wait in batch jobs, which go on at the provider; run again to collect them", n);
}

void BatchJobs::cancel_all() {
  std::lock_guard lock(mutex_);
  load();
  for (auto& [key, job] : jobs_) {
    if (job->record.batch_id.empty() || job->record.status == "ended" || job->record.status == "abandoned") continue;
    log_.info("cancelling batch job {} ({})", key, job->record.batch_id);
    job->cancel_sent = true;
    send(api_.cancel(job->record.batch_id), [](const HttpResponse&) {});
  }
}

void BatchJobs::record(const Job& job) {
  if (!run_.store) return;
  try {
    run_.store->update_batch_job(job.record);
  } catch (const std::exception& e) {
    run_.stop_resumable_now(fmt::format("cannot record batch job {}: {}", job.record.key, e.what()));
  }
}

void BatchJobs::send(HttpRequest request, std::function<void(HttpResponse)> done) {
  http_.send(std::move(request), transfer_, [this, done = std::move(done)](const HttpResponse& response) {
    if (run_.hard_stopped()) {
      std::lock_guard guard(mutex_);
      return abandon_everything();
    }
    if (!response.could_not_connect) lane_.reached_server();
    done(response);
  });
}

/// A failure of the batch API that stops the run as it stops online calls (the credentials or
/// the quota refused, a server this run never reached): nothing more is sent, and every request
/// held is left for the next run, none failed: they were never really tried. Under mutex_.
bool BatchJobs::stops_run(const Failure& failure, const HttpResponse& response) {
  auto why = lane_.stop_reason(failure, !response.could_not_connect);
  if (!why) return false;
  lane_.stop(*why);
  abandon_everything();
  return true;
}

void BatchJobs::later(std::chrono::milliseconds wait, std::function<void()> then) {
  run_.loop.after_skippable(
      wait,
      [this, then = std::move(then)] {
        std::lock_guard guard(mutex_);
        if (!stopping_) then();
      },
      [this] {
        std::lock_guard guard(mutex_);
        abandon_everything();
      });
}

}  // namespace flowbatch
