#include "engine/config/config_value.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace flowbatch {

const ConfigEntry* ConfigValue::entry(std::string_view key) const {
  for (const auto& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

const ConfigValue* ConfigValue::find(std::string_view key) const {
  const ConfigEntry* e = entry(key);
  return e ? &e->value : nullptr;
}

ConfigValue* ConfigValue::find(std::string_view key) {
  for (auto& e : entries)
    if (e.key == key) return &e.value;
  return nullptr;
}

ConfigValue& ConfigValue::set(const std::string& key, ConfigValue value, Location key_where) {
  for (auto& e : entries) {
    if (e.key == key) {
      e.value = std::move(value);
      e.key_where = std::move(key_where);
      return e.value;
    }
  }
  entries.push_back(ConfigEntry{key, std::move(key_where), std::move(value)});
  return entries.back().value;
}

std::string_view ConfigValue::kind_name() const {
  switch (kind) {
    case Kind::string: return "string";
    case Kind::integer: return "integer";
    case Kind::floating: return "float";
    case Kind::boolean: return "boolean";
    case Kind::array: return "array";
    case Kind::table: return "table";
    case Kind::datetime: return "date-time";
  }
  return "value";
}

boost::json::value ConfigValue::to_json() const {
  switch (kind) {
    case Kind::string:
    case Kind::datetime: return boost::json::value(text);
    case Kind::integer: return boost::json::value(integer);
    case Kind::floating: return boost::json::value(floating);
    case Kind::boolean: return boost::json::value(boolean);
    case Kind::array: {
      boost::json::array a;
      for (const auto& v : items) a.push_back(v.to_json());
      return a;
    }
    case Kind::table: {
      boost::json::object o;
      for (const auto& e : entries) o[e.key] = e.value.to_json();
      return o;
    }
  }
  return nullptr;
}

}  // namespace flowbatch
