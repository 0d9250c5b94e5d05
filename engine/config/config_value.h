#pragma once
#include <boost/json/value.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/diagnostics.h"

namespace flowbatch {

struct ConfigEntry;

/// A part of a string: `size` bytes from `offset`.
struct TextSpan {
  std::size_t offset = 0;
  std::size_t size = 0;
};

/// A parsed configuration value that remembers where it was written. The engine's own tree, so
/// that toml++ stays inside the loader and every later stage can point at file:line:column.
class ConfigValue {
 public:
  enum class Kind : std::uint8_t { string, integer, floating, boolean, array, table, datetime };

  Kind kind = Kind::table;
  std::string text;  ///< string (and date-time, as written)
  std::int64_t integer = 0;
  double floating = 0;
  bool boolean = false;
  std::vector<ConfigValue> items;    ///< array elements
  std::vector<ConfigEntry> entries;  ///< table entries, in file order
  Location where;                    ///< where the value is written
  std::filesystem::path base_dir;    ///< relative paths in this value resolve against it
  /// Where values of environment variables (`${VAR}`) were put into `text`: the secrets a
  /// header or a URL may carry.
  std::vector<TextSpan> expanded;

  bool is_table() const { return kind == Kind::table; }
  const ConfigValue* find(std::string_view key) const;
  ConfigValue* find(std::string_view key);
  const ConfigEntry* entry(std::string_view key) const;
  /// Inserts or replaces a table entry.
  ConfigValue& set(const std::string& key, ConfigValue value, Location key_where);

  /// "string", "integer", "float", "boolean", "array", "table", "date-time"
  std::string_view kind_name() const;
  /// The value as JSON (tables become objects, date-times strings).
  boost::json::value to_json() const;
};

struct ConfigEntry {
  std::string key;
  Location key_where;  ///< where the key is written
  ConfigValue value;
};

}  // namespace flowbatch
