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

/// What went wrong with an item, kept on the item itself: per-item failures are values, never
/// exceptions. Never holds a secret: messages are redacted before they are stored.
struct Failure {
  ErrorClass error_class = ErrorClass::server;
  std::string message;           ///< human-readable reason (the provider's message where there is one)
  int http_status = 0;           ///< 0 when no HTTP response was received
  std::string request_id;        ///< the provider's request id, for support tickets
  std::string node;              ///< the node where it failed, e.g. "classify"
  std::int64_t retry_after_ms = -1;  ///< the server's Retry-After hint; -1 when none
  std::optional<bool> should_retry;  ///< the server's word (x-should-retry) over the retry policy
};

/// One unit of work flowing through a pipeline: a record from a source and everything nodes add.
///
/// Plugins read and write `fields`; the remaining members are the engine's bookkeeping and are
/// read-only for plugins.
struct Item {
  std::string id;                 ///< stable identity: the source's id_field, else the line number
  std::uint64_t line = 0;         ///< 1-based position in its source (0 when not from a file)
  boost::json::object fields;     ///< the data: decoded input plus what nodes add

  std::optional<Failure> failure;           ///< set while the item travels an error port
  std::uint32_t attempts = 0;               ///< call attempts made so far
  std::vector<ErrorClass> error_history;    ///< class of every failed attempt, oldest first
  std::int64_t first_attempt_unix_ms = 0;   ///< wall-clock time of the first call attempt
  std::int64_t last_attempt_unix_ms = 0;    ///< wall-clock time of the latest call attempt
  std::string raw;                ///< the undecoded input, kept only for invalid records

  /// Engine bookkeeping: which source admitted the item, whether it holds an admission slot, a
  /// hash of its input record (resuming a run checks it), and what its record shares with the
  /// other items made from it (when it was copied or split).
  std::uint16_t source_index = 0;
  bool holds_admission = false;
  std::uint64_t input_hash = 0;
  std::shared_ptr<RecordTicket> record;

  /// The field's value, or nullptr when absent.
  const boost::json::value* find(std::string_view name) const { return fields.if_contains(name); }
  /// Sets (or replaces) a field.
  void set(std::string_view name, boost::json::value value) { fields[name] = std::move(value); }
};

}  // namespace flowbatch
