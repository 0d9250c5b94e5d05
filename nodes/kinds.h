#pragma once
// Declarations of the built-in node kinds and types; each is defined in its own file.
#include "engine/graph/node_kind.h"
#include "flowbatch/registry.h"

namespace flowbatch {

NodeKind source_kind();       // nodes/source.cpp       [sources.*]
NodeKind transform_kind();    // nodes/transform.cpp    [transforms.*]
NodeKind batch_kind();        // nodes/batch.cpp        [batches.*]
NodeKind call_kind();         // nodes/call.cpp         [calls.*]
NodeKind retry_kind();        // nodes/retry.cpp        [retries.*]
NodeKind dead_letter_kind();  // nodes/dead_letter.cpp  [dead_letters.*]
NodeKind sink_kind();         // nodes/sink.cpp         [sinks.*]

void register_jsonl_source(Registry& registry);           // nodes/sources/jsonl.cpp
void register_csv_source(Registry& registry);             // nodes/sources/csv.cpp
void register_jsonl_sink(Registry& registry);             // nodes/sinks/jsonl.cpp
void register_csv_sink(Registry& registry);               // nodes/sinks/csv.cpp
void register_stdout_sink(Registry& registry);            // nodes/sinks/stdout.cpp
void register_mock_provider(Registry& registry);          // nodes/providers/mock.cpp
void register_openai_provider(Registry& registry);        // nodes/providers/openai.cpp
void register_anthropic_provider(Registry& registry);     // nodes/providers/anthropic.cpp
void register_http_provider(Registry& registry);          // nodes/providers/http.cpp
void register_openai_batch_source(Registry& registry);    // nodes/sources/openai_batch.cpp
void register_openai_batch_sink(Registry& registry);      // nodes/sinks/openai_batch.cpp
void register_redis_stream_source(Registry& registry);    // nodes/sources/redis_stream.cpp
void register_redis_sinks(Registry& registry);            // nodes/sinks/redis.cpp
void register_postgres_queue_source(Registry& registry);  // nodes/sources/postgres_queue.cpp
void register_postgres_sink(Registry& registry);          // nodes/sinks/postgres.cpp

}  // namespace flowbatch
