#include "nodes/builtin.h"

#include "engine/graph/type_registry.h"
#include "nodes/kinds.h"

namespace flowbatch {

void register_builtin(TypeRegistry& registry) {
  // Node kinds: the role tables of a graph file.
  registry.add_kind(source_kind());
  registry.add_kind(transform_kind());
  registry.add_kind(batch_kind());
  registry.add_kind(call_kind());
  registry.add_kind(retry_kind());
  registry.add_kind(dead_letter_kind());
  registry.add_kind(sink_kind());

  // Types, registered exactly as a plugin registers its own (flowbatch/registry.h).
  register_jsonl_source(registry);
  register_csv_source(registry);
  register_jsonl_sink(registry);
  register_csv_sink(registry);
  register_stdout_sink(registry);
  register_mock_provider(registry);
  register_openai_provider(registry);
  register_anthropic_provider(registry);
  register_http_provider(registry);
  register_openai_batch_source(registry);
  register_openai_batch_sink(registry);
  register_redis_stream_source(registry);
  register_redis_sinks(registry);
  register_postgres_queue_source(registry);
  register_postgres_sink(registry);
}

}  // namespace flowbatch
