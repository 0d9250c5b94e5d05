#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "engine/config/config_value.h"
#include "engine/core/diagnostics.h"

namespace flowbatch {

/// Reads a TOML file into a ConfigValue tree (the only place that includes toml++).
///
/// String values may use `${VAR}` and `${VAR:-default}` (write `$${` for a literal `${`); an
/// unset variable without a default is an error at the value's location. Relative paths in the
/// file resolve against the file's folder. On a syntax error the returned tree is empty and the
/// error, with file:line:column, is in `diagnostics`.
ConfigValue load_toml_file(const std::filesystem::path& file, Diagnostics& diagnostics);

/// Same, from text (tests); `display_name` is used in locations, `base_dir` for relative paths.
ConfigValue load_toml_text(const std::string& text, const std::string& display_name,
                           const std::filesystem::path& base_dir, Diagnostics& diagnostics);

/// Applies one `--set a.b.c=value` override. The value is read as a TOML value when it parses as
/// one (500, true, 0.5, "x", ["a","b"]) and as a plain string otherwise. Relative paths given this
/// way resolve against the current directory, like any other command-line argument.
void apply_override(ConfigValue& root, const std::string& assignment, Diagnostics& diagnostics);

/// Expands ${VAR} and ${VAR:-default} in `text`; reports unset variables at `where`. Where the
/// environment's values went is added to `expanded` (defaults written in the file are no secret).
std::string expand_env(const std::string& text, const Location& where, const std::string& subject,
                       Diagnostics& diagnostics, std::vector<TextSpan>* expanded = nullptr);

}  // namespace flowbatch
