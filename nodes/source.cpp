// [sources.NAME]: reads records lazily through a registered source type, admits them in chunks
// through the pipeline's in-flight limit, decodes them in parallel and sends valid items on,
// invalid records to `NAME.invalid` with their line number and reason.
#include <fmt/format.h>

#include <mutex>

#include "engine/core/exceptions.h"
#include "engine/core/hash.h"
#include "engine/core/hash_set.h"
#include "engine/graph/type_registry.h"
#include "engine/runtime/build_context.h"
#include "engine/runtime/node_runtime.h"
#include "nodes/kinds.h"
#include "nodes/replay_source.h"

namespace flowbatch {
namespace {

struct SourceConfig final : NodeConfig {
  std::unique_ptr<Source> source;
  std::string id_field;
  bool replaying = false;  ///< flowbatch replay: the source reads dead-letter records
  std::string label() const override { return source->describe() + (id_field.empty() ? "" : "\nid_field=" + id_field); }
  std::optional<std::uint64_t> count_records() const override { return source->count_records(); }
  std::vector<boost::json::object> sample_records(std::size_t n) const override {
    std::vector<boost::json::object> samples;
    if (source->acknowledger()) return samples;  // reading a queue takes entries from it: no peeking
    try {
      std::vector<Record> records;
      source->open()->read(records, n);
      for (const Record& record : records) {
        boost::json::object fields;
        if (!source->decode(record, fields)) samples.push_back(std::move(fields));
      }
    } catch (...) {  // an input that cannot be read is reported by its own check; this one just has no sample
    }
    return samples;
  }
};

class SourceRuntime final : public NodeRuntime {
 public:
  SourceRuntime(const SourceConfig& config, BuildContext& context)
      : config_(config),
        run_(context.run),
        stats_(context.stats),
        log_(context.log),
        node_name_(context.node().name),
        valid_(context.output(0)),
        invalid_(context.output(1)),
        reader_node_(context.graph, [this](oneapi::tbb::flow_control& fc) { return read_chunk(fc); }),
        decode_node_(context.graph, flow::unlimited,
                     [this](const Packet& p) {
                       decode(p);
                       return flow::continue_msg();
                     }),
        lag_node_(context.graph, flow::serial, [this](const Packet&) {
          on_tick();
          return flow::continue_msg();
        }) {
    source_index_ = context.admit(reader_node_, decode_node_);
    // Set while the graph is built, before any commit can read it.
    if (auto acknowledger = config_.source->acknowledger()) {
      if (run_.acknowledgers.size() <= source_index_) run_.acknowledgers.resize(source_index_ + 1);
      run_.acknowledgers[source_index_] = std::move(acknowledger);
    }
  }

  /// A followed source takes the graph's ticks, to ask its reader's lag (it has no other input).
  flow::receiver<Packet>* input() override { return follows_ ? &lag_node_ : nullptr; }
  std::optional<std::chrono::milliseconds> tick_interval() const override {
    if (!follows_) return std::nullopt;
    return kLagEvery;
  }

  void start() override {
    const bool acknowledges = source_index_ < run_.acknowledgers.size() && run_.acknowledgers[source_index_];
    if (acknowledges && !run_.store)
      throw std::runtime_error(fmt::format(
          "source {} acknowledges what it reads only once its results are committed, which needs the pipeline's "
          "state (pipeline.state is \"none\")",
          node_name_));
    // Resuming: the records a previous run completed are skipped (not read again into calls). A
    // queue-like source's lines are this run's numbering: the queue itself gives back what is not done.
    if (run_.store && run_.store->has_previous_run() && !acknowledges) {
      completed_ = run_.store->completed(run_.source_keys[source_index_]);
      resuming_ = completed_.size() > 0;
    }
    reader_ = open_reader();
    record_began_files();
    if (follows_) run_.following_sources.fetch_add(1);
    if (auto total = config_.source->count_records()) run_.expected_items.fetch_add(*total);
    run_.source_opened();
    open_ = true;
    reader_node_.activate();
  }

 private:
  /// Runs serially on a worker: reads one chunk of raw records (decoding happens in parallel
  /// after admission).
  Packet read_chunk(oneapi::tbb::flow_control& fc) {
    if (exhausted_ || run_.draining()) return stop(fc);
    records_.clear();
    const std::size_t chunk = run_.admission.chunk_size();
    try {
      const std::lock_guard lock(reader_mutex_);
      exhausted_ = !reader_->read(records_, chunk);
      if (exhausted_)
        if (auto change = reader_->input_changed()) log_.warn("{}", *change);
      if (follows_) note_following();
    } catch (...) {
      if (!follows_) {
        run_.fail(fmt::format("source {}: {}", node_name_, current_exception_message()));
        return stop(fc);
      }
      return unreachable(fc, current_exception_message());
    }
    if (unreachable_) {
      unreachable_ = false;
      log_.info("reading again");
    }
    if (records_.empty()) return exhausted_ ? stop(fc) : wait_for_more(fc, kFollowPoll);
    ItemVector items(records_.size());
    for (std::size_t i = 0; i < records_.size(); ++i) {
      items[i].line = records_[i].line;
      items[i].raw = std::move(records_[i].text);
    }
    run_.ledger.admit(items, source_index_);
    if (items.size() < chunk) run_.admission.short_chunk(items.size());
    if (run_.sampling()) {
      std::lock_guard lock(sample_mutex_);
      ++chunks_read_;
    }
    return Packet::of(std::move(items));
  }

  /// Resuming a followed file: on from the files an earlier run began (their lines keep their numbers).
  std::unique_ptr<SourceReader> open_reader() {
    if (!follows_ || !run_.store) return config_.source->open();
    const std::string& key = run_.source_keys[source_index_];
    return config_.source->resume(run_.store->followed_files(key), completed_.first_free_line());
  }

  /// Files a followed source began are in the state before any record read from them can commit;
  /// those no resumed run could read again leave it (after the files that replace them came in).
  void record_began_files() {
    const std::vector<FollowedFile> began = reader_->began_files();
    const std::vector<FollowedFile> forgettable = reader_->forgettable_files();
    if (!run_.store) return;
    const std::string& key = run_.source_keys[source_index_];
    if (!began.empty()) run_.store->record_followed_files(key, began);
    if (!forgettable.empty()) run_.store->forget_followed_files(key, forgettable);
  }

  /// After each read of a followed source: files it began, and what it has to say.
  void note_following() {
    record_began_files();
    for (const std::string& note : reader_->take_notes()) log_.warn("{}", note);
  }

  /// A followed source's lag is asked for every second, on the graph's ticks rather than after each
  /// read: a reader that the in-flight limit holds back reads nothing, and that is when its lag
  /// matters. The asking runs on a worker (it may be a round trip), between reads.
  void on_tick() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_lag_) return;  // ticks come every few ms; only this serial body reads next_lag_
    next_lag_ = now + kLagEvery;
    const std::lock_guard lock(reader_mutex_);
    if (!reader_) return;
    try {
      if (const std::optional<SourceLag> lag = reader_->lag()) run_.follow_lags.set(source_index_, node_name_, *lag);
    } catch (...) {  // unknown for now (a server down: the reads say so); asked again in a second
    }
  }

  /// A followed source with nothing new: this node rests, and the I/O loop's timer wakes it to ask
  /// again (no worker waits). At most one wake-up is pending at a time.
  Packet wait_for_more(oneapi::tbb::flow_control& fc, std::chrono::milliseconds delay) {
    fc.stop();
    if (!wake_pending_.exchange(true))
      run_.loop.after(delay, [this] {
        wake_pending_ = false;
        if (!run_.hard_stopped()) reader_node_.activate();
      });
    return Packet::tick();
  }

  /// A followed source that cannot reach its input (a server down) waits and tries again: a
  /// pipeline that runs for days outlives a server's restart.
  Packet unreachable(oneapi::tbb::flow_control& fc, const std::string& why) {
    if (!unreachable_) log_.warn("cannot read ({}); trying again", why);
    unreachable_ = true;
    return wait_for_more(fc, kUnreachableRetry);
  }

  Packet stop(oneapi::tbb::flow_control& fc) {
    fc.stop();
    if (run_.sampling()) hold_sampled({}, /*reading_done=*/true, /*decoded=*/false);
    if (open_) {
      open_ = false;
      const std::lock_guard lock(reader_mutex_);
      reader_.reset();  // close the file now, not at the end of the run
      run_.source_finished();
    }
    return Packet::tick();
  }

  void decode(const Packet& packet) {
    ItemVector& items = *packet.items;
    stats_.received.fetch_add(items.size(), std::memory_order_relaxed);
    ItemVector valid, invalid, skipped;
    valid.reserve(items.size());
    for (Item& item : items) {
      const std::uint64_t hash = run_.store ? stable_hash(item.raw) : 0;
      ItemLedger::set_input_hash(item, hash);
      if ((resuming_ && already_complete(item, hash)) || replayed_before(hash) || !run_.sampled(item.line)) {
        skipped.push_back(std::move(item));
        continue;
      }
      if (auto reason = decode_one(item)) {
        item.failure = make_failure(ErrorClass::invalid_input, std::move(*reason), node_name_);
        invalid.push_back(std::move(item));
      } else {
        note_duplicate_id(item);
        valid.push_back(std::move(item));
      }
    }
    run_.ledger.end(skipped, Ending::skipped);
    invalid_.emit(std::move(invalid));
    if (run_.sampling()) hold_sampled(std::move(valid), /*reading_done=*/false, /*decoded=*/true);
    else valid_.emit(std::move(valid));
  }

  /// flowbatch estimate: the few sampled records of each chunk are held and sent on together (a
  /// chunk's worth, or all at the end), so calls pack them as they would pack the whole input
  /// rather than one or two at a time.
  void hold_sampled(ItemVector items, bool reading_done, bool decoded) {
    ItemVector ready;
    {
      std::lock_guard lock(sample_mutex_);
      for (Item& item : items) held_.push_back(std::move(item));
      if (decoded) ++chunks_decoded_;
      if (reading_done) reading_done_ = true;
      const bool last = reading_done_ && chunks_decoded_ == chunks_read_;
      if (held_.size() >= run_.admission.chunk_size() || last) ready.swap(held_);
    }
    valid_.emit(std::move(ready));
  }

  /// A record a previous run completed is not done again. One whose text changed since is not
  /// done again either — its result is already written — but it is reported, never mixed silently.
  bool already_complete(const Item& item, std::uint64_t hash) {
    switch (completed_.lookup(item.line, hash)) {
      case CompletedRecords::Status::unknown: return false;
      case CompletedRecords::Status::done: return true;
      case CompletedRecords::Status::changed:
        if (run_.metrics.changed.fetch_add(1) < 5)
          log_.warn(
              "line {} changed since a previous run completed it; its earlier result is kept (--fresh starts over)",
              item.line);
        return true;
    }
    return false;
  }

  /// Two records with one id are both processed (their results share the id); that is worth a
  /// word, since ids are usually meant to be unique. Ids from line numbers always are.
  void note_duplicate_id(const Item& item) {
    if (config_.id_field.empty() || ids_seen_.insert(stable_hash(item.id))) return;
    if (run_.metrics.duplicate_ids.fetch_add(1, std::memory_order_relaxed) < 5)
      log_.warn(
          "line {}: id \"{}\" was already used by an earlier record; both are processed and their results share the "
          "id",
          item.line, item.id);
  }

  /// A dead-letter record an earlier `flowbatch replay` already sent through the graph (the file
  /// set aside then, replayed once more): it is not sent again.
  bool replayed_before(std::uint64_t hash) const {
    if (!config_.replaying || run_.replayed_before.empty() || !run_.replayed_before.count(hash)) return false;
    run_.metrics.already_replayed.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  std::optional<std::string> decode_one(Item& item) const {
    Record record{item.line, std::move(item.raw)};
    // A replayed record is its original input again: its line there (for its id and reports),
    // and its original bytes if it fails once more.
    const std::optional<ReplayOrigin> origin = config_.replaying ? replay_origin(record) : std::nullopt;
    if (origin) item.line = origin->line;
    const auto keep_raw = [&] {
      if (origin) item.raw = origin->raw;
      else item.raw = std::move(record.text);
    };
    std::optional<std::string> reason;
    try {
      reason = config_.source->decode(record, item.fields);
    } catch (...) {  // a plugin source that throws: this record is invalid, the run goes on
      reason = fmt::format("the source could not decode it: {}", current_exception_message());
    }
    if (reason) {
      keep_raw();
      return fmt::format("line {}: {}", item.line, *reason);
    }
    if (config_.id_field.empty()) {
      item.id = std::to_string(item.line);
      return std::nullopt;
    }
    const boost::json::value* id = item.find(config_.id_field);
    if (!id || id->is_null()) {
      keep_raw();
      if (id) return fmt::format("line {}: the id field \"{}\" is null", item.line, config_.id_field);
      return fmt::format("line {}: missing id field \"{}\"", item.line, config_.id_field);
    }
    if (const auto* s = id->if_string()) item.id.assign(s->data(), s->size());
    else if (id->is_int64()) item.id = std::to_string(id->get_int64());
    else if (id->is_uint64()) item.id = std::to_string(id->get_uint64());
    else {
      keep_raw();
      return fmt::format("line {}: id field \"{}\" must be a string or an integer", item.line, config_.id_field);
    }
    return std::nullopt;
  }

  const SourceConfig& config_;
  RunState& run_;
  NodeStats& stats_;
  Logger log_;
  std::string node_name_;
  OutputPort& valid_;
  OutputPort& invalid_;
  std::mutex reader_mutex_;  // read_chunk() and ask_lag() use the reader one at a time
  std::unique_ptr<SourceReader> reader_;
  std::vector<Record> records_;
  std::uint16_t source_index_ = 0;
  CompletedRecords completed_;
  ConcurrentHashSet ids_seen_;  // hashes of the ids decoded this run
  bool resuming_ = false;
  bool exhausted_ = false;
  std::mutex sample_mutex_;                             // flowbatch estimate's held records (hold_sampled)
  ItemVector held_;                                     // guarded by sample_mutex_
  std::uint64_t chunks_read_ = 0, chunks_decoded_ = 0;  // guarded by sample_mutex_
  bool reading_done_ = false;                           // guarded by sample_mutex_
  bool open_ = false;
  const bool follows_ = config_.source->follows();
  bool unreachable_ = false;
  std::atomic<bool> wake_pending_{false};
  std::chrono::steady_clock::time_point next_lag_{};  // on_tick() only
  static constexpr std::chrono::milliseconds kFollowPoll{100};
  static constexpr std::chrono::milliseconds kUnreachableRetry{500};
  static constexpr std::chrono::milliseconds kLagEvery{1000};
  flow::input_node<Packet> reader_node_;
  flow::function_node<Packet, flow::continue_msg> decode_node_;
  flow::function_node<Packet, flow::continue_msg> lag_node_;
};

std::unique_ptr<NodeConfig> parse_source(ParseContext& ctx) {
  auto config = std::make_unique<SourceConfig>();
  const SourceType* type = ctx.types.source(ctx.type);
  config->source = type->configure(ctx.options);
  if (!config->source) return nullptr;
  config->replaying = !ctx.replay_from.empty();
  if (config->replaying)  // flowbatch replay: read this source's dead letters instead
    config->source = make_replay_source(ctx.replay_from, std::string(ctx.options.node_name()), ctx.source_count > 1,
                                        std::move(config->source));
  config->id_field = ctx.options.has("id_field") ? ctx.options.string("id_field") : config->source->default_id_field();
  return config;
}

}  // namespace

NodeKind source_kind() {
  NodeKind k;
  k.table = "sources";
  k.name = "source";
  k.summary = "reads records lazily from a file (or a plugin's source) and admits them as items";
  k.keys = {{"id_field", KeyKind::string, false, "",
             "the field holding each record's stable id (default: the type's, else the line number)"}};
  k.family = TypeFamily::source;
  k.default_type = "jsonl";
  k.outputs = {{"", PortKind::items}, {"invalid", PortKind::invalid}};
  k.parse = parse_source;
  k.build = [](const NodeConfig& config, BuildContext& context) -> std::unique_ptr<NodeRuntime> {
    return std::make_unique<SourceRuntime>(static_cast<const SourceConfig&>(config), context);
  };
  return k;
}

}  // namespace flowbatch
