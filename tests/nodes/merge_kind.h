#pragma once
#include "engine/graph/node_kind.h"

namespace flowbatch::test {

/// [merges.NAME]: a test-only kind that merges N items into one and splits the answer back
/// (tests/nodes/merge_kind.cpp). Registered by the tests that use it: registry.add_kind(merge_kind()).
NodeKind merge_kind();

}  // namespace flowbatch::test
