// The engine's option structs keep initialisers (code that builds a plan by hand, and the rate
// gate's tests, default-construct them), but the defaults a user gets are the KeySpec texts that
// `flowbatch plugins` and docs/config.md show. These checks keep the two the same: a changed
// KeySpec default without the struct (or the other way round) fails here.
#include <doctest/doctest.h>

#include "engine/config/option_reader.h"
#include "engine/config/toml_loader.h"
#include "engine/graph/pipeline_options.h"
#include "engine/runtime/writer_node.h"

using namespace flowbatch;

namespace {

/// Reads a table holding only `required` (the required keys) through `read`: every other key
/// takes its default.
template <class Read>
auto read_defaults(const std::vector<KeySpec>& keys, Read read, const std::string& required = "") {
  Diagnostics d;
  const ConfigValue empty = load_toml_text(required, "defaults.toml", "/base", d);
  Redactor redactor;
  OptionReader reader(empty, "t", "t", keys, {d, redactor, false});
  auto out = read(reader);
  REQUIRE_MESSAGE(!d.has_errors(), "an absent key's default does not pass the key's own checks");
  return out;
}

}  // namespace

TEST_CASE("[pipeline] key defaults equal PipelineOptions' initialisers") {
  const PipelineOptions read =
      read_defaults(pipeline_keys(), [](OptionReader& o) { return read_pipeline_options(o, "/base/graph.toml"); });
  const PipelineOptions plain;
  CHECK(read.max_in_flight == plain.max_in_flight);
  CHECK(read.dead_letter == plain.dead_letter);
  CHECK(read.shutdown_grace == plain.shutdown_grace);
  CHECK(read.progress == plain.progress);
  CHECK(read.progress_interval == plain.progress_interval);
  CHECK(read.io_threads == plain.io_threads);
  CHECK(read.threads == plain.threads);
  CHECK(read.plugins.empty());
  CHECK(read.blocking_threads == plain.blocking_threads);
  CHECK(read.response_memory == plain.response_memory);
  // name and state default to names made from the graph file, which the struct cannot know.
  CHECK(read.name == "graph");
  CHECK(read.state == std::filesystem::path("/base/.flowbatch/graph.db"));
}

TEST_CASE("[providers] key defaults equal ProviderSettings' and RateSettings' initialisers") {
  const ProviderSettings read = read_defaults(
      provider_keys(), [](OptionReader& o) { return read_provider_settings(o); }, "type = \"mock\"\n");
  const ProviderSettings plain;
  CHECK(read.rate.concurrency_limit == plain.rate.concurrency_limit);
  CHECK(read.rate.adaptive == plain.rate.adaptive);
  CHECK(read.rate.requests_per_minute == plain.rate.requests_per_minute);
  CHECK(read.rate.tokens_per_minute == plain.rate.tokens_per_minute);
  CHECK(read.timeout == plain.timeout);
  CHECK(read.connect_timeout == plain.connect_timeout);
  CHECK(read.ca_file == plain.ca_file);
  CHECK(read.low_speed_limit == plain.low_speed_limit);
  CHECK(read.low_speed_time == plain.low_speed_time);
}

TEST_CASE("an adaptive concurrency starts where RateSettings' initialiser says, by default") {
  Diagnostics d;
  const ConfigValue table = load_toml_text("type = \"mock\"\nmax_concurrency = \"adaptive\"\n", "p.toml", "/base", d);
  Redactor redactor;
  OptionReader reader(table, "providers.p", "p", provider_keys(), {d, redactor, false});
  const ProviderSettings read = read_provider_settings(reader);
  REQUIRE(!d.has_errors());
  CHECK(read.rate.adaptive);
  CHECK(read.rate.initial_concurrency == RateSettings{}.initial_concurrency);
}

TEST_CASE("sink flush key defaults equal FlushPolicy's initialisers") {
  const FlushPolicy read = read_defaults(flush_keys(), [](OptionReader& o) { return read_flush_policy(o); });
  const FlushPolicy plain;
  CHECK(read.every_items == plain.every_items);
  CHECK(read.interval == plain.interval);
}
