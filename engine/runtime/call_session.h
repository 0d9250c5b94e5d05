#pragma once
// The engine's half of a call: sending groups of items to a provider lane and settling what comes
// back. It owns what every way of calling shares — stamping attempts, a provider that throws,
// isolating a poisoned item by bisection, items an answer left out sent again in smaller groups,
// usage shared out over the items of a request, failures recorded on items (redacted, classed,
// counted), answered items sent on as soon as they are answered. A call kind supplies the rest
// through CallShape: how a request is made of some items, and how an answer is read back.
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/runtime/build_context.h"
#include "engine/runtime/provider_lane.h"

namespace flowbatch {

/// What became of one item of an answered request.
struct Verdict {
  enum class Kind : std::uint8_t {
    answered,  ///< its answer is on it
    failed,    ///< `failure` says why; it leaves on the error port
    again,     ///< the answer did not (usably) hold it: send it again, in a smaller group
  };
  Kind kind = Kind::answered;
  std::optional<Failure> failure;

  static Verdict fail(Failure f) { return Verdict{Kind::failed, std::move(f)}; }
  static Verdict retry() { return Verdict{Kind::again, std::nullopt}; }
};

/// How a call kind shapes its requests. Called concurrently from worker threads.
class CallShape {
 public:
  virtual ~CallShape() = default;
  /// Fills `exchange.request` (and `exchange.weights`, the items' shares of the prompt) for
  /// `exchange.items`; or says why no request can be made (nothing is sent then, and the items
  /// fail with it).
  virtual std::optional<Failure> build(Exchange& exchange) = 0;
  /// Before sending: may take the answer from a cache (setting `response` and `from_cache`).
  virtual void look_up(Exchange& exchange) { (void)exchange; }
  /// A successful answer (`exchange.result.failure` unset, outputs redacted): one verdict per item,
  /// `verdicts` already sized.
  virtual void read(Exchange& exchange, std::span<Verdict> verdicts) = 0;
  /// After the verdicts, before the items move on: keep what is worth keeping (a cache).
  virtual void settled(const Exchange& exchange, std::span<const Verdict> verdicts) {
    (void)exchange;
    (void)verdicts;
  }
};

class CallSession final : public ExchangeOwner {
 public:
  /// `provider`: the index of the provider (in plan.providers) whose lane it sends on.
  CallSession(CallShape& shape, BuildContext& context, std::size_t provider);

  /// The call's batch keys: in batch or auto mode its requests go to the provider's batch jobs.
  /// False when the provider has no batch API. Call while the graph is built.
  bool use_batches(const BatchSettings& settings, const std::string& pipeline) {
    batch_ = &settings;
    return lane_.enable_batches(pipeline);
  }

  /// Sends one request for `items`. `item_keys`: each item's own cache key, when items are cached
  /// one by one (they travel with their items through any resend). `earlier_line`: the batch line
  /// of an earlier run that holds every one of the items, which answers them.
  void send(ItemVector items, std::vector<std::string> item_keys = {}, std::string earlier_line = {});
  /// Batch mode, for a call that groups several items a request: items an earlier run already
  /// sent in a batch job, grouped as they were or not, go back to the line that holds them (a
  /// request of their own for each line, whose answer is that line's: they are never submitted
  /// twice); returns the rest, to be grouped as usual. `key_of`: an item's own cache key (or "").
  /// The call must read an answer for more items than it asked (dropping the others) when items
  /// are named in it (a pack); an answer by position (embeddings) is picked for them by the lane.
  ItemVector send_held_by_earlier_lines(ItemVector items, const std::function<std::string(const Item&)>& key_of);
  /// An item answered without a request (from the cache): it goes on with the next flush.
  void answered_without_request(Item item);

  void complete(const ExchangePtr& exchange) override;
  /// Sends on every item answered since the last flush. An answered item never waits for the
  /// rest of the packet it came in: it reaches its sink (and its commit) at once, and a drain or
  /// a crash does not throw paid answers away with an unfinished group.
  void flush() override;

  /// An answer taken from the response cache: what it cost when first paid for (`usage`, at
  /// `model`'s price today) counts as saved.
  void count_saved_by_cache(const Usage& usage, std::string_view model) const;
  /// Packing saved `input_tokens` (estimated, may be negative) of `model` against one request per item.
  void count_saved_by_packing(std::int64_t input_tokens, std::string_view model) const;

  RunState& run() const { return run_; }
  ProviderLane& lane() const { return lane_; }
  const std::string& name() const override { return name_; }

 private:
  /// The exchange for `items`, ready to submit; null when it ended here (no request could be
  /// made; flowbatch estimate --no-calls).
  ExchangePtr prepare(ItemVector items, std::vector<std::string> item_keys, std::string earlier_line);
  /// A request for several items that the API rejects as invalid may be rejecting one of them.
  static bool should_bisect(const Exchange& exchange);
  /// The provider's batch jobs when this call uses them (batch or auto mode), else null.
  BatchJobs* batch_jobs() const;
  /// Sends `items` again in groups of at most `group` (halves, down to one item alone).
  void send_in_groups(ItemVector items, std::vector<std::string> keys, std::size_t group);
  void share_usage(Exchange& exchange) const;
  void settle_without_sending(Exchange& exchange);
  void add_saved(NanoUsd saved) const;
  void record_failure(Item& item, Failure failure, const CallResult& result) const;

  CallShape& shape_;
  RunState& run_;
  std::string name_;
  ProviderLane& lane_;
  OutputPort& ok_;
  OutputPort& error_;
  const BatchSettings* batch_ = nullptr;
  std::mutex answered_mutex_;
  ItemVector answered_ok_, answered_failed_;  // guarded by answered_mutex_; sent on by flush()
};

}  // namespace flowbatch
