#pragma once
// A call's keys ([calls.NAME]), read and checked once into CallConfig, which the call kind
// (nodes/call.cpp) follows.
#include <fmt/format.h>
#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/template.h"
#include "engine/graph/node_kind.h"
#include "engine/runtime/batch_jobs.h"
#include "nodes/calls/answer.h"

namespace flowbatch {

struct CallConfig final : NodeConfig {
  std::size_t provider = 0;
  std::string provider_name;
  Endpoint endpoint = Endpoint::chat;
  std::string model;
  std::string system;
  Template prompt;
  AnswerPlacement placement;
  std::optional<double> temperature;
  std::optional<std::int64_t> max_tokens;
  boost::json::value response_format;
  std::string finish_reason_field;
  bool cache = false;
  std::size_t pack_max_items = 1;  ///< more than 1: several items share one request
  std::int64_t pack_max_tokens = 4000;
  std::string prompt_cache_key;
  bool prefill = false;              ///< packs ask for their format by prefilling the answer (Anthropic)
  boost::json::value output_schema;  ///< packs with parse = "json": the schema of one output, if given
  BatchSettings batch;               ///< mode and batch_* keys

  bool packs() const { return pack_max_items > 1; }

  Location prompt_where;

  std::string label() const override {
    std::string s = fmt::format("provider={} endpoint={}", provider_name, to_string(endpoint));
    if (!model.empty()) s += "\nmodel=" + model;
    if (packs()) s += fmt::format("\npack={} items", pack_max_items);
    return s;
  }
  std::vector<FieldRead> fields_read() const override {
    std::vector<FieldRead> out;
    for (auto& field : prompt.fields()) out.push_back(FieldRead{std::move(field), "prompt", prompt_where});
    return out;
  }
  std::optional<std::vector<std::string>> fields_added() const override {
    if (placement.parse_json && !placement.output_field_given)
      return std::nullopt;  // the answer's own fields are merged in
    std::vector<std::string> added = {placement.output_field};
    if (!finish_reason_field.empty()) added.push_back(finish_reason_field);
    return added;
  }
};

/// The call kind's keys, for its key list (and so the schema and docs).
std::vector<KeySpec> call_keys();

/// Reads a [calls.NAME] table; every problem is reported on `context`, with the key.
std::unique_ptr<NodeConfig> parse_call(ParseContext& context);

}  // namespace flowbatch
