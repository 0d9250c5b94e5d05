#pragma once
#include <string>
#include <vector>

#include "engine/config/config_value.h"
#include "engine/core/diagnostics.h"
#include "engine/core/redactor.h"
#include "flowbatch/options.h"

namespace flowbatch {

/// flowbatch::Options over one TOML table, checked against a schema (a list of KeySpecs).
///
/// Construction reports, into the shared Diagnostics, every unknown key (with a did-you-mean),
/// every value of the wrong type and every missing required key. Accessors then return typed
/// values (defaults for absent keys) and never fail.
class OptionReader final : public Options {
 public:
  struct Context {
    Diagnostics& diagnostics;
    Redactor& redactor;
    bool check_environment = true;
    /// Non-empty: every path the reader gives is a file in this folder instead, named after the
    /// node and key (flowbatch estimate's trial run writes none of the graph's own outputs).
    std::filesystem::path outputs_under = {};
  };

  /// `subject` is the table's dotted name ("calls.classify"); `handled_elsewhere` lists keys that
  /// are valid in the table but read by someone else (e.g. "inputs").
  OptionReader(const ConfigValue& table, std::string subject, std::string node_name, std::vector<KeySpec> schema,
               Context context, const std::vector<std::string>& handled_elsewhere = {});

  bool has(std::string_view key) const override;
  std::string string(std::string_view key) const override;
  std::int64_t integer(std::string_view key) const override;
  double number(std::string_view key) const override;
  bool boolean(std::string_view key) const override;
  std::vector<std::string> strings(std::string_view key) const override;
  std::filesystem::path path(std::string_view key) const override;
  boost::json::value json(std::string_view key) const override;
  std::string secret(std::string_view key) override;
  bool check_environment() const override { return context_.check_environment; }
  /// Where values that are secrets go (so they are never printed).
  Redactor& redactor() const { return context_.redactor; }
  void error(std::string_view key, std::string message) override;
  void warning(std::string_view key, std::string message) override;
  std::string_view node_name() const override { return node_name_; }

  /// Whether secret() handed out a value: the node will send a key somewhere.
  bool holds_secret() const { return holds_secret_; }

  /// Where the key's value is written (the table's header when the key is absent).
  Location location(std::string_view key) const;

  /// A file named by a path key, as the node read it (for the graph's file checks).
  struct PathUse {
    std::string key;
    std::filesystem::path path;
    Location where;
  };
  /// Every non-empty path this node's options named, in the order they were read.
  const std::vector<PathUse>& paths_used() const { return paths_used_; }
  const ConfigValue& table() const { return table_; }
  const std::vector<KeySpec>& schema() const { return schema_; }

 private:
  const KeySpec* spec(std::string_view key) const;
  const ConfigValue* present(std::string_view key) const;  // only when it has the right type
  void check_keys(const std::vector<std::string>& handled_elsewhere);
  bool check_choices(const ConfigValue& value, const KeySpec& k);  // reports a value outside k.choices
  void note_path_use(std::string_view key, const std::filesystem::path& p) const;

  const ConfigValue& table_;
  std::string subject_;
  std::string node_name_;
  std::vector<KeySpec> schema_;
  Context context_;
  std::vector<std::string> mistyped_;
  bool holds_secret_ = false;
  mutable std::vector<PathUse> paths_used_;  // path() is const for the node types that read it
};

/// Whether `value` has the TOML type that `kind` asks for.
bool value_matches(const ConfigValue& value, KeyKind kind);
std::string_view kind_description(KeyKind kind);

}  // namespace flowbatch
