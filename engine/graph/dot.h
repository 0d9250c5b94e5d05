#pragma once
#include <string>

#include "engine/graph/plan.h"

namespace flowbatch {

/// The compiled graph as Graphviz DOT: one box per node (kind, type, key options), providers as
/// notes, and every edge labelled with the port it leaves from. Holds no secret: labels come
/// from typed options, never from raw TOML or the environment.
std::string to_dot(const Plan& plan);

}  // namespace flowbatch
