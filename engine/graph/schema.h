#pragma once
// The graph format as data, for tools outside flowbatch: a JSON Schema for editors and
// validators, and the keys of each table for shell completion. Both are generated from the
// registry (kinds, types, their KeySpecs) and the pipeline and provider keys, the same lists the
// compiler checks a graph against, so they cannot drift from it.
#include <boost/json/value.hpp>

#include <string>
#include <vector>

#include "engine/graph/type_registry.h"

namespace flowbatch {

/// The JSON Schema (draft 2020-12) of a graph file whose node types are those in `registry`:
/// every table and key with its type, default, choices (enum) and meaning; typed tables as a
/// `oneOf` by `type`; unknown tables and keys refused (`additionalProperties: false`).
/// It checks each table's shape; what needs the whole graph (edges, cycles, files) is `validate`'s.
boost::json::value graph_schema(const TypeRegistry& registry);

/// A key's default as the JSON value it stands for ("20" -> 20, "a,b" -> ["a","b"]); null when
/// it has none or the text is a description rather than a value ("one per core").
boost::json::value default_as_json(const KeySpec& key);

/// Every key a table of `table` may hold, whatever its type ("pipeline", "providers", "sources",
/// ...), sorted and without repeats: what `--set TABLE.NAME.KEY=` may name.
std::vector<std::string> table_keys(const TypeRegistry& registry, const std::string& table);

/// The top-level tables: "pipeline", "providers", then each kind's table.
std::vector<std::string> graph_tables(const TypeRegistry& registry);

/// JSON text indented by two spaces, arrays of plain values on one line, ending with a newline:
/// stable and readable, for the schema kept in the repository.
std::string pretty_json(const boost::json::value& value);

}  // namespace flowbatch
