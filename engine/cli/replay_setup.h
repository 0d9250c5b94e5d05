#pragma once
// `flowbatch replay`: a dead-letter file goes through the graph again, as a resumable run of its
// own. What has to happen before the graph runs lives here, under the state's lock.
#include <cstdint>
#include <filesystem>
#include <string>

#include "engine/graph/plan.h"

namespace flowbatch {

struct PreparedReplay {
  std::int64_t id = 0;              ///< the replay in the state
  std::filesystem::path read_from;  ///< the file its sources read (the set-aside dead letters)
  std::string note;                 ///< what was done, for the user: "replaying x (moved to y)"
};

/// Finds the replay of `file` that a killed run left unfinished and goes on with it, or starts a
/// new one: when `file` is one of the graph's outputs, it is set aside (renamed, synced) and that
/// output starts afresh, both recorded in the state first, so a kill at any moment leaves a state
/// that the same command finishes. Throws RunBlocked when another replay is unfinished,
/// std::invalid_argument when `file` is not a file, and std::runtime_error when it cannot be
/// moved. Call with the state's lock held.
PreparedReplay prepare_replay(const Plan& plan, const std::filesystem::path& file);

}  // namespace flowbatch
