#include "engine/graph/pipeline_options.h"

#include "engine/core/text.h"

namespace flowbatch {

const std::vector<KeySpec>& pipeline_keys() {
  static const std::vector<KeySpec> keys = {
      {"name", KeyKind::string, false, "", "the job's name (default: the graph file's name)"},
      {"max_in_flight", KeyKind::integer, false, "10000",
       "items admitted but not yet at a sink or dead letter; bounds memory"},
      {"dead_letter", KeyKind::string, false, "",
       "the [dead_letters] node that unconnected error ports feed (default: the only one, else an implicit "
       "out/<name>.dead_letter.jsonl)"},
      {"shutdown_grace_ms", KeyKind::integer, false, "30000",
       "after Ctrl-C, how long in-flight items may finish before the run stops"},
      {"progress", KeyKind::string, false, "auto", "auto | tty | plain | off"},
      {"progress_interval_ms", KeyKind::integer, false, "10000", "period of plain (non-terminal) progress lines"},
  };
  return keys;
}

const std::vector<KeySpec>& provider_keys() {
  static const std::vector<KeySpec> keys = {
      {"type", KeyKind::string, true, "", "the provider type"},
      {"max_concurrency", KeyKind::integer, false, "16",
       "requests in flight at once, across every call node using this provider"},
  };
  return keys;
}

PipelineOptions read_pipeline_options(OptionReader& o, const std::filesystem::path& graph_file) {
  PipelineOptions p;
  p.name = o.has("name") ? o.string("name") : graph_file.stem().string();
  if (p.name.empty()) p.name = "flowbatch";

  const std::int64_t max_in_flight = o.integer("max_in_flight");
  if (max_in_flight < 1) o.error("max_in_flight", "must be at least 1");
  else p.max_in_flight = static_cast<std::size_t>(max_in_flight);

  p.dead_letter = o.string("dead_letter");

  const std::int64_t grace = o.integer("shutdown_grace_ms");
  if (grace < 0) o.error("shutdown_grace_ms", "must not be negative");
  else p.shutdown_grace = std::chrono::milliseconds(grace);

  const std::string progress = o.string("progress");
  if (progress == "auto") p.progress = ProgressMode::automatic;
  else if (progress == "tty") p.progress = ProgressMode::tty;
  else if (progress == "plain") p.progress = ProgressMode::plain;
  else if (progress == "off") p.progress = ProgressMode::off;
  else
    o.error("progress", "must be one of auto, tty, plain, off" + did_you_mean(progress, {"auto", "tty", "plain", "off"}));

  const std::int64_t interval = o.integer("progress_interval_ms");
  if (interval < 100) o.error("progress_interval_ms", "must be at least 100");
  else p.progress_interval = std::chrono::milliseconds(interval);
  return p;
}

ProviderSettings read_provider_settings(OptionReader& o) {
  ProviderSettings s;
  const std::int64_t concurrency = o.integer("max_concurrency");
  if (concurrency < 1) o.error("max_concurrency", "must be at least 1");
  else s.max_concurrency = static_cast<std::size_t>(concurrency);
  return s;
}

}  // namespace flowbatch
