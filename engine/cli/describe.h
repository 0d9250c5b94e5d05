#pragma once
// The commands that describe flowbatch to other tools rather than run a graph: `schema` (the
// graph format as JSON Schema), `help [--man]`, `completion bash|zsh` and `--version`.
#include <CLI/CLI.hpp>

#include <string>

namespace flowbatch {

class TypeRegistry;

/// What `--version` prints: the version, the plugin API and the build (compiler, libraries).
std::string version_text();

/// The footer of `--help`: running a graph by its file alone, and the exit codes.
std::string help_footer();

/// Writes `text` to `output` ("" or "-": stdout); false with a message on stderr when it cannot.
bool write_output(const std::string& text, const std::string& output);

/// `flowbatch help`: --help's text, or with `man` flowbatch(1) in roff.
int cmd_help(const CLI::App& app, bool man, const std::string& output);

/// `flowbatch completion bash|zsh`.
int cmd_completion(const CLI::App& app, const TypeRegistry& registry, const std::string& shell,
                   const std::string& output);

/// A graph compiled only for the types its plugins add (loading them): its files and variables are
/// not checked. `flowbatch plugins graph.toml` and `flowbatch schema graph.toml`.
struct CompileResult;
class Redactor;
CompileResult compile_for_types(TypeRegistry& registry, const std::string& graph, Redactor& redactor);

/// `flowbatch schema [graph.toml]`: the JSON Schema of graph files, with the graph's plugins'
/// types when a graph is given (its plugins are loaded, as `flowbatch plugins graph.toml` does).
int cmd_schema(TypeRegistry& registry, const std::string& graph, const std::string& output);

}  // namespace flowbatch
