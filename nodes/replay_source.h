#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "flowbatch/source.h"

namespace flowbatch {

/// What a source reads under `flowbatch replay`: the records of a dead-letter file that came from
/// this source (field "source"; every record when the graph has a single source). A record's
/// "input" becomes the item again; an undecodable record's "raw" (or "raw_base64") bytes go
/// through the source's own decoder once more, so a fixed decoder or a corrected id field can now
/// accept them. Lines that are not dead-letter records at all are decoded as the source's own input.
///
/// Each record is numbered by its line in the dead-letter file and identified by that whole line,
/// so a replay is resumable like any run, and a record replayed before is recognised.
std::unique_ptr<Source> make_replay_source(std::filesystem::path dead_letters, std::string source_name,
                                           bool only_named_records, std::unique_ptr<Source> original);

/// Where a replayed record first came from: its line in the original input, and its undecoded
/// bytes when the dead letter kept them (else the input, as JSON text).
struct ReplayOrigin {
  std::uint64_t line = 0;
  std::string raw;
};
/// Nothing when `record` was not read from a dead-letter record by a replay source.
std::optional<ReplayOrigin> replay_origin(const Record& record);

}  // namespace flowbatch
