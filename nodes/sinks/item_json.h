#pragma once
#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "flowbatch/options.h"

#include "flowbatch/sink.h"

namespace flowbatch {

/// Which fields of an item a JSON record holds.
struct ItemJsonShape {
  std::string id_key = "id";        ///< the id goes under this key unless a (listed) field has it ("" never)
  std::vector<std::string> fields;  ///< only these, in this order (empty: all)
  bool include_usage = false;       ///< add "usage" (tokens) and "cost_usd", where the item has no such field
};

/// Appends the JSON text of `o`, `v`, or of `text` as a JSON string, to `out`, without building a
/// temporary string (a sink writes one record per item: copies there cost per item).
void append_json(const boost::json::object& o, std::string& out);
void append_json(const boost::json::value& v, std::string& out);
void append_json_string(std::string_view text, std::string& out);

/// Appends the item as one JSON object (no newline).
void append_item_json(const Item& item, const ItemJsonShape& shape, std::string& out);

/// One JSON object per line: the encoder of the jsonl and stdout sinks.
class JsonLinesEncoder final : public RecordEncoder {
 public:
  explicit JsonLinesEncoder(ItemJsonShape shape) : shape_(std::move(shape)) {}
  void encode(const Item& item, std::string& out) const override {
    append_item_json(item, shape_, out);
    out += '\n';
  }

 private:
  ItemJsonShape shape_;
};

/// The keys that choose an ItemJsonShape (shared by the jsonl and stdout sinks).
std::vector<KeySpec> item_json_keys();
ItemJsonShape read_item_json_shape(Options& options);

}  // namespace flowbatch
