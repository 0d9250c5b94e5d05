#include "engine/cli/replay_setup.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>
#include <system_error>

#include "engine/core/exceptions.h"
#include "engine/core/paths.h"
#include "engine/io/durable.h"
#include "engine/state/state_store.h"

namespace flowbatch {
namespace {

namespace fs = std::filesystem;

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec1, ec2;
  if (fs::equivalent(a, b, ec1)) return true;
  return fs::weakly_canonical(fs::absolute(a), ec1) == fs::weakly_canonical(fs::absolute(b), ec2);
}

/// The output of the graph that writes `file`, or "".
std::string output_writing(const Plan& plan, const fs::path& file) {
  for (const PlanNode& node : plan.nodes)
    for (const FileUse& use : node.files)
      if (use.writes && same_file(use.path, file)) return node.name;
  return {};
}

/// "failed.jsonl" -> "failed.replayed-20261129-221503.jsonl", beside it, never an existing file.
fs::path aside_name(const fs::path& file) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  const std::string stem = file.stem().string() + fmt::format(".replayed-{:%Y%m%d-%H%M%S}", tm);
  fs::path aside = file.parent_path() / (stem + file.extension().string());
  for (int n = 2; fs::exists(aside); ++n)
    aside = file.parent_path() / fmt::format("{}-{}{}", stem, n, file.extension().string());
  return aside;
}

/// A replay recorded as being set aside: do (or confirm) the move, then mark it running.
void finish_moving(StateStore& state, const StateStore::Replay& replay) {
  if (!fs::exists(replay.aside)) {
    if (!fs::exists(replay.file))
      throw std::runtime_error(
          fmt::format("the replay of {} cannot go on: neither it nor {} exists any more", replay.file, replay.aside));
    rename_durably(replay.file, replay.aside);
  }
  state.set_replay_status(replay.id, "running");
}

}  // namespace

PreparedReplay prepare_replay(const Plan& plan, const fs::path& file) {
  StateStore state(plan.pipeline.state, plan.pipeline.name);
  if (auto unfinished = state.unfinished_replay()) {
    if (!same_file(unfinished->file, file) && !same_file(unfinished->aside, file))
      throw RunBlocked(
          fmt::format("a replay of {} is not finished (started {}); run `flowbatch replay {} {}` to finish it "
                      "first",
                      unfinished->file, unfinished->started_at, unfinished->file, plan.graph_file.string()));
    if (unfinished->status == "moving") finish_moving(state, *unfinished);
    return PreparedReplay{
        unfinished->id, unfinished->aside,
        fmt::format("finishing the replay of {} started {} (reading {})", display_path(unfinished->file),
                    unfinished->started_at, display_path(unfinished->aside))};
  }
  if (!fs::is_regular_file(file)) throw std::invalid_argument(fmt::format("{} is not a file", file.string()));
  const std::string output = output_writing(plan, file);
  if (output.empty()) {  // nobody writes it: read it where it is
    const auto replay = state.begin_replay(fs::absolute(file).string(), fs::absolute(file).string(), "");
    state.set_replay_status(replay.id, "running");
    return PreparedReplay{replay.id, fs::absolute(file), fmt::format("replaying {}", display_path(file))};
  }
  // The graph writes this file: set it aside, so the run's new dead letters go to the same path.
  const auto replay = state.begin_replay(fs::absolute(file).string(), fs::absolute(aside_name(file)).string(), output);
  finish_moving(state, replay);
  return PreparedReplay{replay.id, replay.aside,
                        fmt::format("replaying {} (moved to {})", display_path(file), display_path(replay.aside))};
}

}  // namespace flowbatch
