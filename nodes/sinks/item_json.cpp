#include "nodes/sinks/item_json.h"

#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>

#include <algorithm>

namespace flowbatch {

namespace {
/// Serializes straight into `out` (no temporary string per record).
void append_json(const boost::json::object& o, std::string& out) {
  boost::json::serializer sr;
  sr.reset(&o);
  while (!sr.done()) {
    const std::size_t used = out.size();
    out.resize(used + 4096);
    out.resize(used + sr.read(out.data() + used, 4096).size());
  }
}
}  // namespace

void append_item_json(const Item& item, const ItemJsonShape& shape, std::string& out) {
  const bool add_id = !shape.id_key.empty() && !item.fields.contains(shape.id_key);
  if (shape.fields.empty()) {
    if (!add_id) {
      append_json(item.fields, out);
      return;
    }
    // Splice the id in front of the serialized fields rather than copying the object per item.
    out += '{';
    out += boost::json::serialize(boost::json::string_view(shape.id_key));
    out += ':';
    out += boost::json::serialize(boost::json::string_view(item.id));
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
  return {{"fields", KeyKind::string_list, false, "", "write only these fields, in this order (default: all)"},
          {"id_key", KeyKind::string, false, "id",
           "write the item's id under this key when no field has it (\"\": never)"}};
}

ItemJsonShape read_item_json_shape(Options& options) {
  return ItemJsonShape{options.string("id_key"), options.strings("fields")};
}

}  // namespace flowbatch
