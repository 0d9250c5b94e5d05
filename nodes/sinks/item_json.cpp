#include "nodes/sinks/item_json.h"

#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>

#include <algorithm>

#include <fmt/format.h>

namespace flowbatch {

namespace {
/// Runs a serializer set up by the caller into `out` through a buffer on the stack (no
/// temporary string per record, and `out` grows only by what was written).
void drain_into(boost::json::serializer& sr, std::string& out) {
  char buffer[1024];
  while (!sr.done()) {
    const auto written = sr.read(buffer, sizeof buffer);
    out.append(written.data(), written.size());
  }
}
}  // namespace

void append_json(const boost::json::object& o, std::string& out) {
  boost::json::serializer sr;
  sr.reset(&o);
  drain_into(sr, out);
}

void append_json(const boost::json::value& v, std::string& out) {
  boost::json::serializer sr;
  sr.reset(&v);
  drain_into(sr, out);
}

void append_json_string(std::string_view text, std::string& out) {
  boost::json::serializer sr;
  sr.reset(boost::json::string_view(text.data(), text.size()));
  drain_into(sr, out);
}

namespace {

/// `"usage":{...},"cost_usd":...` for what the item cost (its share of its requests), leaving out
/// a name the item's own fields use: an answer is never overwritten.
std::string usage_members(const Item& item) {
  std::string out;
  if (!item.fields.contains("usage"))
    out += fmt::format(R"("usage":{{"input_tokens":{},"output_tokens":{}}})", item.input_tokens, item.output_tokens);
  if (!item.fields.contains("cost_usd")) {
    if (!out.empty()) out += ',';
    // Unknown (a model with no price) is null, never a silent 0.
    out += item.cost_nano_usd < 0 ? std::string(R"("cost_usd":null)")
                                  : fmt::format(R"("cost_usd":{})", static_cast<double>(item.cost_nano_usd) / 1e9);
  }
  return out;
}

void append_members(const std::string& members, std::string& out) {
  if (members.empty() || out.empty() || out.back() != '}') return;
  out.pop_back();
  if (out.back() != '{') out += ',';
  out += members;
  out += '}';
}

}  // namespace

void append_item_json(const Item& item, const ItemJsonShape& shape, std::string& out) {
  if (shape.include_usage) {
    std::string record;
    ItemJsonShape plain = shape;
    plain.include_usage = false;
    append_item_json(item, plain, record);
    append_members(usage_members(item), record);
    out += record;
    return;
  }
  const bool add_id = !shape.id_key.empty() && !item.fields.contains(shape.id_key);
  if (shape.fields.empty()) {
    if (!add_id) {
      append_json(item.fields, out);
      return;
    }
    // Splice the id in front of the serialized fields rather than copying the object per item.
    out += '{';
    append_json_string(shape.id_key, out);
    out += ':';
    append_json_string(item.id, out);
    const std::size_t brace = out.size();
    append_json(item.fields, out);
    if (out.size() - brace > 2) out[brace] = ',';  // "{...}" -> ",...}"
    else out.resize(brace), out += '}';
    return;
  }
  boost::json::object o;
  const bool id_listed = std::find(shape.fields.begin(), shape.fields.end(), shape.id_key) != shape.fields.end();
  if (!shape.id_key.empty() && !id_listed) {
    const boost::json::value* own = item.find(shape.id_key);
    o[shape.id_key] = own ? *own : boost::json::value(item.id);
  }
  for (const auto& name : shape.fields) {
    const boost::json::value* v = item.find(name);
    o[name] = v ? *v : boost::json::value(nullptr);
  }
  append_json(o, out);
}

}  // namespace flowbatch

namespace flowbatch {

std::vector<KeySpec> item_json_keys() {
  return {
      {"fields", KeyKind::string_list, false, "", "write only these fields, in this order (default: all)"},
      {"id_key", KeyKind::string, false, "id", "write the item's id under this key when no field has it (\"\": never)"},
      {"include_usage", KeyKind::boolean, false, "false",
       "add \"usage\" (the tokens the item's requests took, its share of a packed request) and \"cost_usd\" "
       "(null when its model has no price) to each record, where the item has no such field"}};
}

ItemJsonShape read_item_json_shape(Options& options) {
  return ItemJsonShape{options.string("id_key"), options.strings("fields"), options.boolean("include_usage")};
}

}  // namespace flowbatch
