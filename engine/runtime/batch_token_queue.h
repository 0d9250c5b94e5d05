#pragma once
// The provider's batch queue as one run plans it: OpenAI counts the prompt tokens of every batch
// of an organisation in progress, per model, and fails a batch that would pass the model's limit
// (token_limit_exceeded) — the limit of [providers.X] batch_enqueued_tokens. Jobs are cut so that
// none alone passes it (fits()); a job that would pass it with this run's jobs in progress is
// parked, and the parked jobs of a model go, oldest first, as its jobs end and free room. A
// refusal the provider gives all the same (other programs use the organisation's queue too) holds
// the model's parked jobs until one of this run's jobs of it ends, or the caller's back-off
// passes (retry()).
//
// Pure bookkeeping, no I/O and no lock: BatchJobs (batch_jobs.h) drives it under its mutex, keeps
// the parked jobs themselves (not recorded in the state: as crash-safe as requests being
// collected) and creates what this says may go.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace flowbatch {

class BatchTokenQueue {
 public:
  /// Tokens per model (model_table.h: "*" is any model); 0 or no entry: no limit.
  explicit BatchTokenQueue(std::map<std::string, std::int64_t, std::less<>> limits);

  std::int64_t limit(std::string_view model) const;
  /// Whether a job holding `held` tokens of `model` may take a line of `more` too (an empty job
  /// always may: a line larger than the limit on its own is too_large()).
  bool fits(std::string_view model, std::int64_t held, std::int64_t more) const;
  /// A line that no job may hold: its tokens alone pass the limit, the provider would refuse any
  /// job holding it.
  bool too_large(std::string_view model, std::int64_t tokens) const;

  /// A job ready to be created: true when it may be now (it counts as enqueued from now on),
  /// false when it is parked behind the model's queue. Jobs of a model without a limit are
  /// counted too: a refusal holds them all the same.
  bool offer(const std::string& key, const std::string& model, std::int64_t tokens);
  /// A job created before (an earlier run's, re-attached): it counts as enqueued until it ends.
  void enqueued(const std::string& key, const std::string& model, std::int64_t tokens);
  /// A job ended (completed, failed, expired, cancelled) or never became a batch: its tokens are
  /// free again. Returns the parked jobs that may be created now, oldest first (they count as
  /// enqueued). A key not counted changes nothing.
  std::vector<std::string> release(const std::string& key);
  /// The provider refused a job for its queue: the job is parked again, first of its model's, and
  /// the model's parked jobs hold until one of its jobs ends or retry(). Returns how many times in
  /// a row the model was refused (for the caller's back-off).
  int refused(const std::string& key);
  /// The back-off after a refusal passed: returns the model's parked jobs that may go now.
  std::vector<std::string> retry(const std::string& model);
  /// A create of the model succeeded: its refusals in a row start again from none.
  void accepted(const std::string& key);

  std::int64_t in_progress(std::string_view model) const;
  std::size_t parked(std::string_view model) const;
  /// The most tokens of one model this run held enqueued at once.
  std::int64_t peak() const { return peak_; }

 private:
  struct Job {
    std::string model;
    std::int64_t tokens = 0;
  };
  struct Model {
    std::int64_t in_progress = 0;
    std::deque<std::string> parked;  ///< oldest first
    bool held = false;               ///< refused by the provider: nothing goes until a job ends
    int refusals = 0;                ///< in a row
  };

  bool room(const Model& m, std::int64_t limit, std::int64_t tokens) const;
  void count(const std::string& key, Job job);
  std::vector<std::string> drain(const std::string& model);

  std::map<std::string, std::int64_t, std::less<>> limits_;
  std::map<std::string, Job> enqueued_;     // by job key
  std::map<std::string, Job> parked_jobs_;  // by job key
  std::map<std::string, Model, std::less<>> models_;
  std::int64_t peak_ = 0;
};

}  // namespace flowbatch
