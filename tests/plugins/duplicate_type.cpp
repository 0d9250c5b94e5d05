// A test plugin that registers a source type the program already has ("jsonl"): refused, naming
// both origins.
#include <flowbatch/plugin.h>

FLOWBATCH_PLUGIN(registry) {
  registry.add(flowbatch::SourceType{"jsonl", "a second jsonl", {}, [](flowbatch::Options&) { return nullptr; }});
}
