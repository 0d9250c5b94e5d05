#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "flowbatch/source.h"

namespace flowbatch {

/// What a source reads under `flowbatch replay`: the records of a dead-letter file that came from
/// this source (field "source"; every record when the graph has a single source). A record's
/// "input" becomes the item again; an undecodable record's "raw" text goes through the source's
/// own decoder once more, so a fixed decoder or a corrected id field can now accept it. Lines that
/// are not dead-letter records at all are decoded as the source's own input.
std::unique_ptr<Source> make_replay_source(std::filesystem::path dead_letters, std::string source_name,
                                           bool only_named_records, std::unique_ptr<Source> original);

}  // namespace flowbatch
