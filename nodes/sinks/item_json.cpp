#include "nodes/sinks/item_json.h"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace flowbatch {

void append_item_json(const Item& item, const ItemJsonShape& shape, std::string& out) {
  const bool add_id = !shape.id_key.empty() && !item.fields.contains(shape.id_key);
  if (shape.fields.empty()) {
    // Splice the id in front of the serialized fields rather than copying the object per item.
    const std::string body = boost::json::serialize(item.fields);
    if (!add_id) {
      out += body;
      return;
    }
    out += '{';
    out += boost::json::serialize(boost::json::string_view(shape.id_key));
    out += ':';
    out += boost::json::serialize(boost::json::string_view(item.id));
    if (body.size() > 2) {
      out += ',';
      out.append(body, 1, std::string::npos);
    } else {
      out += '}';
    }
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
  out += boost::json::serialize(o);
}

}  // namespace flowbatch

namespace flowbatch {

std::vector<KeySpec> item_json_keys() {
  return {{"fields", KeyKind::string_list, false, "", "write only these fields, in this order (default: all)"},
          {"id_key", KeyKind::string, false, "id", "write the item's id under this key when no field has it (\"\": never)"}};
}

ItemJsonShape read_item_json_shape(Options& options) {
  return ItemJsonShape{options.string("id_key"), options.strings("fields")};
}

}  // namespace flowbatch
