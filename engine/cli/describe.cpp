#include "engine/cli/describe.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <oneapi/tbb/version.h>
#include <sqlite3.h>
#include <boost/version.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/cli/cli_docs.h"
#include "engine/core/redactor.h"
#include "engine/graph/compiler.h"
#include "engine/graph/schema.h"
#include "engine/runtime/exit_codes.h"
#include "flowbatch/version.h"

#ifndef FLOWBATCH_VERSION
#error "FLOWBATCH_VERSION is defined by engine/CMakeLists.txt from the project's version"
#endif

namespace flowbatch {
namespace {

struct ExitCode {
  int code;
  const char* meaning;
};

/// The exit codes, for `--help`'s footer and the man page's EXIT STATUS alike.
const std::vector<ExitCode>& exit_codes() {
  static const std::vector<ExitCode> codes = {
      {kExitOk, "done: every item reached a sink"},
      {kExitDeadLetters, "done, and a dead letter holds items (replay them once the cause is fixed)"},
      {kExitUsage, "usage error: an unknown option, a missing argument"},
      {kExitResumable, "stopped early, nothing lost: run the same command again once the cause is fixed"},
      {kExitConfig, "configuration error: nothing ran"},
      {kExitInterrupted, "interrupted (Ctrl-C, SIGTERM)"},
      {kExitFatal, "another fatal error (for example a sink that cannot write)"},
  };
  return codes;
}

constexpr const char* kDefaultCommand =
    "A graph file alone runs it: `flowbatch graph.toml` is `flowbatch run graph.toml`.";

std::string compiler_name() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " __VERSION__;
#else
  return "an unknown compiler";
#endif
}

/// Every table's keys, for `--set` completion (built-in types: no plugin is loaded to complete).
TableKeys all_table_keys(const TypeRegistry& registry) {
  TableKeys keys;
  for (const auto& table : graph_tables(registry)) keys.emplace_back(table, table_keys(registry, table));
  return keys;
}

}  // namespace

std::string version_text() {
  // The build string is what a plugin must match (flowbatch/version.h); the rest helps a bug report.
  return fmt::format(
      "flowbatch {}\nplugin API {} ({})\nbuilt with {}, Boost {}.{}.{}, oneTBB {}, libcurl {} (running {}), SQLite {}",
      FLOWBATCH_VERSION, kPluginApiVersion, kPluginBuild, compiler_name(), BOOST_VERSION / 100000,
      BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100, TBB_VERSION_STRING, LIBCURL_VERSION,
      curl_version_info(CURLVERSION_NOW)->version, sqlite3_libversion());
}

std::string help_footer() {
  std::string out = std::string(kDefaultCommand) + "\nExit codes:";
  for (const ExitCode& e : exit_codes()) out += fmt::format("\n  {:<4} {}", e.code, e.meaning);
  return out;
}

bool write_output(const std::string& text, const std::string& output) {
  if (output.empty() || output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0;
  }
  std::FILE* f = std::fopen(output.c_str(), "w");
  bool ok = f && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (f) ok = std::fclose(f) == 0 && ok;
  if (!ok) std::fprintf(stderr, "flowbatch: cannot write %s: %s\n", output.c_str(), std::strerror(errno));
  return ok;
}

int cmd_help(const CLI::App& app, bool man, const std::string& output) {
  if (!man) return write_output(app.help(), output) ? kExitOk : kExitFatal;
  ManSection description{"DESCRIPTION",
                         "flowbatch compiles a pipeline written in TOML into a dataflow graph and runs it within the "
                         "provider's limits, without losing an item: failures are classified and retried, what keeps "
                         "failing lands in a dead letter with its reason, and results reach their files while the job "
                         "runs. A killed run resumes where it stopped. " +
                             std::string(kDefaultCommand),
                         {}};
  ManSection status{"EXIT STATUS", "", {}};
  for (const ExitCode& e : exit_codes()) status.items.emplace_back(std::to_string(e.code), e.meaning);
  const std::vector<ManSection> extra = {
      status,
      {"ENVIRONMENT",
       "",
       {{"FLOWBATCH_PLUGIN_PATH", "folders (separated by ':') searched for plugins a graph names by name"},
        {"${VAR}", "a graph's values may name environment variables; keys (api_key_env) are read only from there"}}},
      {"FILES",
       "",
       {{".flowbatch/GRAPH.db", "next to the graph: the run's state (what is done, output positions, the cache)"},
        {"/usr/share/flowbatch/flowbatch.schema.json", "the JSON Schema of graph files, for editors (`#:schema` line)"},
        {"/usr/share/doc/flowbatch/examples", "example graphs (copy them somewhere writable to run them)"}}},
      {"SEE ALSO", "flowbatch-mock(1); the README and docs/ of the flowbatch sources", {}},
  };
  return write_output(man_page(app, FLOWBATCH_VERSION, description, extra), output) ? kExitOk : kExitFatal;
}

int cmd_completion(const CLI::App& app, const TypeRegistry& registry, const std::string& shell,
                   const std::string& output) {
  const TableKeys keys = all_table_keys(registry);
  const std::string script = shell == "zsh" ? zsh_completion(app, keys) : bash_completion(app, keys);
  return write_output(script, output) ? kExitOk : kExitFatal;
}

CompileResult compile_for_types(TypeRegistry& registry, const std::string& graph, Redactor& redactor) {
  if (graph.empty()) return {};
  CompileOptions options;
  options.check_environment = false;
  return compile_file(graph, registry, redactor, options);
}

int cmd_schema(TypeRegistry& registry, const std::string& graph, const std::string& output) {
  Redactor redactor;
  const CompileResult result = compile_for_types(registry, graph, redactor);
  if (!write_output(pretty_json(graph_schema(registry)), output)) return kExitFatal;
  // The graph's own errors come after the schema, which may be what helps fix them.
  if (!result.diagnostics.items().empty()) std::fputs(redactor.redact(result.diagnostics.str()).c_str(), stderr);
  return result.diagnostics.has_errors() ? kExitConfig : kExitOk;
}

}  // namespace flowbatch
