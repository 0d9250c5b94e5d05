#pragma once
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flowbatch/error_class.h"

namespace flowbatch {

struct RecordTicket;  // engine bookkeeping: an input record split into several items
class ItemLedger;     // the engine's owner of that bookkeeping

/// The engine's bookkeeping of an item, for exactly-once results: which input record it stands
/// for, which part of that record it is, and whether it holds an admission slot. Opaque to
/// plugins; copied with the item. A new item made by a plugin starts blank and the engine fills it.
class ItemTrace {
 public:
  ItemTrace() = default;

 private:
  friend class ItemLedger;
  std::shared_ptr<RecordTicket> record_;  ///< shared by the items of a record made into several
  std::uint64_t input_hash_ = 0;          ///< hash of the record's text (a resumed run checks it)
  std::uint64_t position_ = 0;            ///< the record's line in the file read (a replay reads its dead letters)
  std::uint64_t part_ = 0;                ///< which item of its record this is (0: the record's own)
  std::uint16_t source_ = 0;              ///< the source that read the record
  bool holds_admission_ = false;          ///< it holds one of pipeline.max_in_flight's slots
};

/// What went wrong with an item, kept on the item itself: per-item failures are values, never
/// exceptions. Never holds a secret: messages are redacted before they are stored.
struct Failure {
  ErrorClass error_class = ErrorClass::server;
  std::string message;               ///< human-readable reason (the provider's message where there is one)
  int http_status = 0;               ///< 0 when no HTTP response was received
  std::string request_id;            ///< the provider's request id, for support tickets
  std::string node;                  ///< the node where it failed, e.g. "classify"
  std::int64_t retry_after_ms = -1;  ///< the server's Retry-After hint; -1 when none
  std::optional<bool> should_retry;  ///< the server's word (x-should-retry) over the retry policy
};

/// A failure of class `error_class` saying `message`, at `node` ("" when the engine adds it);
/// no HTTP status, request id, Retry-After or retry word. Filling the fields by name keeps the
/// code free of positional initialisers (which hide a field added in between) and of aggregates
/// that -Wmissing-field-initializers warns about.
inline Failure make_failure(ErrorClass error_class, std::string message, std::string node = {}) {
  Failure f;
  f.error_class = error_class;
  f.message = std::move(message);
  f.node = std::move(node);
  return f;
}

/// One unit of work flowing through a pipeline: a record from a source and everything nodes add.
///
/// Plugins read and write `fields`; the remaining members are what the engine knows of the item
/// and are read-only for plugins.
struct Item {
  std::string id;              ///< stable identity: the source's id_field, else the line number
  std::uint64_t line = 0;      ///< 1-based position in its source (0 when not from a file)
  boost::json::object fields;  ///< the data: decoded input plus what nodes add

  std::optional<Failure> failure;          ///< set while the item travels an error port
  std::uint32_t attempts = 0;              ///< call attempts made so far
  std::vector<ErrorClass> error_history;   ///< class of every failed attempt, oldest first
  std::int64_t first_attempt_unix_ms = 0;  ///< wall-clock time of the first call attempt
  std::int64_t last_attempt_unix_ms = 0;   ///< wall-clock time of the latest call attempt
  std::int64_t input_tokens =
      0;  ///< prompt tokens paid for this item, over its attempts (its share of a packed request's)
  std::int64_t output_tokens = 0;  ///< answer tokens paid for this item, likewise
  /// What this item's requests cost, its share, in nano-dollars (1e-9 USD); -1: unknown (a model
  /// with no price).
  std::int64_t cost_nano_usd = 0;
  std::string raw;  ///< the undecoded input, kept only for invalid records

  ItemTrace trace;  ///< the engine's bookkeeping (opaque)

  /// The field's value, or nullptr when absent.
  const boost::json::value* find(std::string_view name) const { return fields.if_contains(name); }
  /// Sets (or replaces) a field.
  void set(std::string_view name, boost::json::value value) { fields[name] = std::move(value); }
};

}  // namespace flowbatch
