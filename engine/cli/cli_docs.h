#pragma once
// What is generated from the command line's own definition (the CLI11 app that parses it), so the
// man page and the shell completions say what `--help` says and cannot drift from it.
#include <CLI/CLI.hpp>

#include <string>
#include <utility>
#include <vector>

namespace flowbatch {

/// Whether the option is followed by a value (a flag is not).
inline bool takes_value(const CLI::Option& o) { return o.get_expected_max() != 0; }

/// A section of the man page that `--help` has no room for (exit status, files, environment).
struct ManSection {
  std::string title;                                       ///< "EXIT STATUS"
  std::string text;                                        ///< a paragraph before the items
  std::vector<std::pair<std::string, std::string>> items;  ///< tagged paragraphs: term, meaning
};

/// flowbatch(1) in roff: name, synopsis, `description`, each sub-command with its arguments and
/// options (as `--help` lists them), the program's own options, then `extra`.
std::string man_page(const CLI::App& app, const std::string& version, const ManSection& description,
                     const std::vector<ManSection>& extra);

/// What `--set` may name, per table: {"sources", {"path", "type", ...}}.
using TableKeys = std::vector<std::pair<std::string, std::vector<std::string>>>;

/// Completion scripts for bash and zsh: sub-commands, their options and the values those take,
/// graph files for GRAPH arguments, and `--set` keys for the tables the graph on the line has.
std::string bash_completion(const CLI::App& app, const TableKeys& keys);
std::string zsh_completion(const CLI::App& app, const TableKeys& keys);

}  // namespace flowbatch
