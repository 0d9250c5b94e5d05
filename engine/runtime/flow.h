#pragma once
// The engine's window onto oneTBB's flow graph. Only engine/runtime and node kinds include it;
// the plugin API never does.
#include <oneapi/tbb/flow_graph.h>

namespace flowbatch {
namespace flow = oneapi::tbb::flow;
}  // namespace flowbatch
