#pragma once
#include <boost/json/value.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace flowbatch {

/// The TOML type a configuration key takes.
enum class KeyKind : std::uint8_t {
  string,
  integer,
  number,  ///< integer or float
  boolean,
  string_list,  ///< array of strings
  path,         ///< a string naming a file; relative paths resolve against the graph file's folder
  any,          ///< any TOML value (tables, mixed arrays); read with Options::json()
};

/// One configuration key a node type accepts. The list of KeySpecs is the type's schema: the
/// engine rejects unknown keys (with a did-you-mean), wrong types and missing required keys before
/// the type ever sees its options, and `flowbatch plugins` prints it as documentation.
struct KeySpec {
  std::string name;
  KeyKind kind = KeyKind::string;
  bool required = false;
  /// As TOML would spell a scalar ("20", "true", "jsonl"); a string_list's items separated by
  /// commas ("email,phone"). Empty: no default.
  std::string default_value;
  std::string doc;
  /// The values a string key may take (or each item of a string_list); empty: any. The engine
  /// refuses any other value (with a did-you-mean) before the type sees it, and `flowbatch schema`
  /// writes the list as the key's enum, so an editor offers the same values.
  std::vector<std::string> choices = {};
};

/// Typed, validated access to one node's TOML table. Values of declared keys only; a key that is
/// absent yields its KeySpec default (or an empty/zero value). Errors reported through error()
/// point at the key's file:line:column and are all listed together before anything runs.
class Options {
 public:
  virtual ~Options() = default;

  virtual bool has(std::string_view key) const = 0;
  virtual std::string string(std::string_view key) const = 0;
  virtual std::int64_t integer(std::string_view key) const = 0;
  virtual double number(std::string_view key) const = 0;
  virtual bool boolean(std::string_view key) const = 0;
  virtual std::vector<std::string> strings(std::string_view key) const = 0;
  virtual std::filesystem::path path(std::string_view key) const = 0;
  /// Any value converted to JSON (tables become objects); null when absent.
  virtual boost::json::value json(std::string_view key) const = 0;

  /// Reads the environment variable named by this key's string value (e.g. api_key_env =
  /// "OPENAI_API_KEY"). The value is registered for redaction, so it never appears in a log line,
  /// error message, metric, dead-letter record or graph dump. Reports an error when the variable
  /// is unset, unless environment checks are off.
  virtual std::string secret(std::string_view key) = 0;
  /// False under `flowbatch validate --no-environment`: do not check files, variables or servers.
  virtual bool check_environment() const = 0;

  /// Records a configuration error at the key's location ("must be at least 1").
  virtual void error(std::string_view key, std::string message) = 0;
  /// Records a warning at the key's location.
  virtual void warning(std::string_view key, std::string message) = 0;

  /// The node's name, e.g. "classify" for [calls.classify].
  virtual std::string_view node_name() const = 0;
};

}  // namespace flowbatch
