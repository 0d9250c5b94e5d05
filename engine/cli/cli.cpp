#include "engine/cli/cli.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <boost/json/serialize.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "engine/cli/cache_command.h"
#include "engine/cli/core_dumps.h"
#include "engine/cli/ctl_command.h"
#include "engine/cli/describe.h"
#include "engine/cli/estimate_command.h"
#include "engine/cli/list_types.h"
#include "engine/cli/replay_setup.h"
#include "engine/core/console.h"
#include "engine/core/redactor.h"
#include "engine/graph/compiler.h"
#include "engine/graph/dot.h"
#include "engine/graph/fingerprints.h"
#include "engine/graph/pipeline_options.h"
#include "engine/io/file_lock.h"
#include "engine/runtime/cost_report.h"
#include "engine/runtime/exit_codes.h"
#include "engine/runtime/report.h"
#include "engine/runtime/runner.h"
#include "engine/state/state_store.h"

namespace flowbatch {
namespace {

struct GraphArgs {
  std::string graph;
  std::vector<std::string> overrides;
  bool load_plugins = true;  // validate and graph: only with --load-plugins
};

/// `validate` and `graph` check a graph without running code it names, unless asked to.
void add_load_plugins_flag(CLI::App& cmd, GraphArgs& args) {
  args.load_plugins = false;
  cmd.add_flag("--load-plugins", args.load_plugins,
               "load the graph's plugins to check their types (a plugin is code: only for graphs you trust)");
}

void add_graph_args(CLI::App& cmd, GraphArgs& args) {
  // The type names GRAPH, FILE and KEY=VALUE tell the completion scripts what to offer.
  cmd.add_option("graph", args.graph, "the pipeline's TOML file")->required()->type_name("GRAPH");
  cmd.add_option("--set", args.overrides, "override a key: --set sources.tickets.path=other.jsonl (repeatable)")
      ->allow_extra_args(false)
      ->type_name("KEY=VALUE");
}

/// Prints the findings of a compile to stderr (redacted: a message may quote a value holding a
/// key); true when it produced a plan.
bool report(const CompileResult& result, const Redactor& redactor) {
  if (!result.diagnostics.items().empty()) std::fputs(redactor.redact(result.diagnostics.str()).c_str(), stderr);
  return result.plan.has_value();
}

/// The same for a run with --log-format json: each finding one JSON line, with where it is.
bool report(const CompileResult& result, const Redactor& redactor, LogFormat format) {
  if (format == LogFormat::human) return report(result, redactor);
  Console console(redactor);
  console.set_format(format);
  for (const Diagnostic& d : result.diagnostics.items()) {
    const boost::json::object where{
        {"file", d.where.file}, {"line", d.where.line}, {"column", d.where.column}, {"key", d.subject}};
    console.log(d.severity == Severity::error ? LogLevel::error : LogLevel::warn, "config", d.message, where);
  }
  return result.plan.has_value();
}

int cmd_validate(TypeRegistry& registry, const GraphArgs& args, bool check_environment, bool deny_warnings) {
  Redactor redactor;
  CompileOptions options{args.overrides, check_environment, {}, args.load_plugins};
  CompileResult result = compile_file(args.graph, registry, redactor, options);
  const bool ok = report(result, redactor);
  const auto& d = result.diagnostics;
  if (!ok) {
    std::fprintf(stderr, "%s: %zu error%s\n", args.graph.c_str(), d.error_count(), d.error_count() == 1 ? "" : "s");
    return kExitConfig;
  }
  if (deny_warnings && d.warning_count() > 0) {
    std::fprintf(stderr, "%s: %zu warning%s, denied by --deny-warnings\n", args.graph.c_str(), d.warning_count(),
                 d.warning_count() == 1 ? "" : "s");
    return kExitConfig;
  }
  std::printf("%s: valid (%zu nodes, %zu edges, %zu warning%s)\n", args.graph.c_str(), result.plan->nodes.size(),
              result.plan->edges.size(), d.warning_count(), d.warning_count() == 1 ? "" : "s");
  if (const auto changed = result_settings_changed(*result.plan); !changed.empty())
    std::printf(
        "note: %s changed since the state was written: the next run starts over (with cache = true, unchanged "
        "calls are answered from the cache)\n",
        describe_changes(changed).c_str());
  return kExitOk;
}

int cmd_graph(TypeRegistry& registry, const GraphArgs& args) {
  Redactor redactor;
  CompileOptions options{args.overrides, /*check_environment=*/false, {}, args.load_plugins};
  CompileResult result = compile_file(args.graph, registry, redactor, options);
  if (!report(result, redactor)) return kExitConfig;
  std::fputs(redactor.redact(to_dot(*result.plan)).c_str(), stdout);
  return kExitOk;
}

/// Writes the machine-readable run report (`--report FILE`).
void write_report(const std::string& path, const RunReport& run, const Redactor& redactor) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write the report " + path + ": " + std::strerror(errno));
  const std::string text = redactor.redact(boost::json::serialize(run.json)) + "\n";
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

struct RunFlags {
  std::string progress;
  bool quiet = false;
  bool verbose = false;
  bool fresh = false;
  std::string report_path;
  std::string summary_path;  ///< --summary-json (it is always written beside the state too)
  std::string max_cost;      ///< --max-cost: sets pipeline.max_cost_usd
  std::string listen;
  std::string log_format = "human";  ///< --log-format
  LogFormat format() const { return log_format == "json" ? LogFormat::json : LogFormat::human; }
  bool cancel_batches = false;  ///< cancel the batch jobs earlier runs left, then go on
};

/// Where a run's summary JSON always goes: .flowbatch/<graph>.summary.json beside the graph.
std::filesystem::path default_summary_path(const Plan& plan) {
  const auto dir = plan.graph_file.parent_path().empty() ? std::filesystem::path(".") : plan.graph_file.parent_path();
  return dir / ".flowbatch" / (plan.graph_file.stem().string() + ".summary.json");
}

/// Writes the run summary where it always goes and where --summary-json says; a summary that
/// cannot be written is said, and changes nothing about the run.
void write_summaries(const Plan& plan, const RunReport& run, const RunFlags& flags, Console& console) {
  std::vector<std::filesystem::path> paths = {default_summary_path(plan)};
  if (!flags.summary_path.empty()) paths.emplace_back(flags.summary_path);
  for (const auto& path : paths) {
    try {
      write_summary_json(path, run.summary_json);
    } catch (const std::exception& e) {
      console.log(LogLevel::warn, "", e.what());
    }
  }
}

/// Compiles the graph as `flowbatch run` would (with --progress folded into the overrides).
CompileResult compile_for_run(TypeRegistry& registry, Redactor& redactor, const GraphArgs& args, const RunFlags& flags,
                              const std::filesystem::path& replay_from = {}) {
  CompileOptions options;
  options.overrides = args.overrides;
  if (!flags.progress.empty()) options.overrides.push_back("pipeline.progress=" + flags.progress);
  if (!flags.max_cost.empty()) options.overrides.push_back("pipeline.max_cost_usd=" + flags.max_cost);
  if (!flags.listen.empty()) options.overrides.push_back("pipeline.listen=" + flags.listen);
  options.replay_from = replay_from;
  return compile_file(args.graph, registry, redactor, options);
}

/// Runs a compiled plan and prints what the user needs to know; returns the exit code.
int execute(const Plan& plan, Redactor& redactor, const RunFlags& flags, const RunOptions& run_options) {
  Console console(redactor);
  console.set_format(flags.format(), plan.pipeline.name);
  if (flags.quiet) console.set_level(LogLevel::warn);
  if (flags.verbose) console.set_level(LogLevel::debug);
  RunReport run;
  try {
    run = run_plan(plan, console, redactor, run_options);
  } catch (const RunBlocked& e) {  // another run holds the state, or a replay is unfinished: nothing was touched
    console.log(LogLevel::error, "", e.what());
    return kExitResumable;
  }
  if (flags.format() == LogFormat::json) console.log(LogLevel::info, "", "run summary", run.summary_json);
  else if (!flags.quiet || run.exit_code != kExitOk) console.print(run.summary);
  if (!run.fatal_error.empty()) console.log(LogLevel::error, "", run.fatal_error);
  if (!run.resumable_reason.empty()) console.log(LogLevel::error, "", "stopped: " + run.resumable_reason);
  if (run.status == RunStatus::interrupted)
    console.print("interrupted: run the same command again to finish the remaining items\n");
  if (!run.archived_state.empty()) console.print("the previous state was moved to " + run.archived_state + "\n");
  if (!flags.report_path.empty()) write_report(flags.report_path, run, redactor);
  write_summaries(plan, run, flags, console);
  return run.exit_code;
}

int cmd_run(TypeRegistry& registry, const GraphArgs& args, const RunFlags& flags) {
  Redactor redactor;
  CompileResult result = compile_for_run(registry, redactor, args, flags);
  if (!report(result, redactor, flags.format())) return kExitConfig;
  RunOptions run_options;
  run_options.fresh = flags.fresh;
  run_options.cancel_batches = flags.cancel_batches;
  return execute(*result.plan, redactor, flags, run_options);
}

/// A graph that keeps no state cannot make a replay resumable: the file is moved aside and read
/// once, the outputs add to what they hold.
int replay_without_state(TypeRegistry& registry, const std::filesystem::path& file, const GraphArgs& args,
                         const RunFlags& flags) {
  namespace fs = std::filesystem;
  if (!fs::is_regular_file(file)) {
    std::fprintf(stderr, "flowbatch replay: %s is not a file\n", file.c_str());
    return kExitConfig;
  }
  const fs::path aside = file.parent_path() / (file.stem().string() + ".replayed" + file.extension().string());
  if (fs::exists(aside)) {
    std::fprintf(stderr, "flowbatch replay: %s exists; move it away first\n", aside.c_str());
    return kExitConfig;
  }
  Redactor redactor;
  CompileResult result = compile_for_run(registry, redactor, args, flags, fs::absolute(aside));
  if (!report(result, redactor, flags.format())) return kExitConfig;
  fs::rename(file, aside);
  std::fprintf(stderr,
               "replaying %s (moved to %s); the graph keeps no state, so a replay killed midway cannot be resumed\n",
               file.c_str(), aside.c_str());
  RunOptions run_options;
  run_options.append_outputs = true;
  run_options.use_state = false;
  return execute(*result.plan, redactor, flags, run_options);
}

/// `flowbatch replay failed.jsonl graph.toml`: the dead letters go through the graph again (after
/// the cause was fixed), as a resumable run of its own: killed at any moment, the same command
/// finishes it; records an earlier replay sent through are not sent again.
int cmd_replay(TypeRegistry& registry, const std::string& dead_letters, const GraphArgs& args, const RunFlags& flags) {
  Redactor redactor;
  const CompileResult graph = compile_for_run(registry, redactor, args, flags);
  if (!report(graph, redactor, flags.format())) return kExitConfig;
  const Plan& plain = *graph.plan;
  if (plain.pipeline.state.empty()) return replay_without_state(registry, dead_letters, args, flags);
  std::unique_ptr<RunLock> lock;
  PreparedReplay replay;
  try {
    lock = lock_state(plain);
    replay = prepare_replay(plain, dead_letters);
  } catch (const RunBlocked& e) {
    std::fprintf(stderr, "flowbatch: error: %s\n", e.what());
    return kExitResumable;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "flowbatch replay: %s\n", e.what());
    return kExitConfig;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flowbatch: error: %s\n", e.what());
    return kExitFatal;
  }
  std::fprintf(stderr, "%s\n", replay.note.c_str());
  // Compiled again with the sources reading the set-aside file (quietly: its warnings were shown).
  Redactor replay_redactor;
  const CompileResult compiled = compile_for_run(registry, replay_redactor, args, flags, replay.read_from);
  if (!compiled.plan) return report(compiled, replay_redactor) ? kExitOk : kExitConfig;
  RunOptions run_options;
  run_options.state_locked = true;
  run_options.replay_id = replay.id;
  return execute(*compiled.plan, replay_redactor, flags, run_options);
}

/// `flowbatch status graph.toml`: what the graph's state says about the running or last run.
int cmd_status(TypeRegistry& registry, const GraphArgs& args) {
  Redactor redactor;
  CompileOptions options;
  options.overrides = args.overrides;
  options.check_environment = false;
  CompileResult result = compile_file(args.graph, registry, redactor, options);
  if (!report(result, redactor)) return kExitConfig;
  const auto& state = result.plan->pipeline.state;
  if (state.empty()) {
    std::fprintf(stderr, "%s keeps no state (pipeline.state = \"none\")\n", args.graph.c_str());
    return kExitConfig;
  }
  StateSummary s;
  try {
    s = read_state_summary(state);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flowbatch status: %s\n", e.what());
    return kExitFatal;
  }
  // A state that says "running" while no process holds its lock is a run killed (or crashed).
  const bool interrupted = s.status == "running" && !file_lock::held(state.string() + ".lock");
  std::printf("%s: %s (started %s, updated %s)\n  state %s\n", s.pipeline.c_str(),
              interrupted ? "interrupted (killed or crashed: run the same command to go on)" : s.status.c_str(),
              s.started_at.c_str(), s.updated_at.c_str(), state.c_str());
  for (const auto& [source, n] : s.completed_per_source)
    std::printf("  source %-20s %s records completed\n", source.c_str(), with_commas(n).c_str());
  for (const auto& [sink, position] : s.sink_positions)
    std::printf("  output %-20s committed up to %s\n", sink.c_str(), with_commas(position).c_str());
  if (!s.counters.empty()) {
    std::string line;
    for (const auto& [name, value] : s.counters) {
      if (name == "cost_nano_usd") continue;  // the job's, not the last run's: its own line
      line += fmt::format("{}{} {}", line.empty() ? "" : ", ", name, with_commas(static_cast<std::uint64_t>(value)));
    }
    if (!line.empty()) std::printf("  last run: %s\n", line.c_str());
    if (auto cost = s.counters.find("cost_nano_usd"); cost != s.counters.end() && cost->second > 0)
      std::printf("  cost so far %s (every run of this state; max_cost_usd counts it)\n",
                  format_usd(cost->second).c_str());
  }
  for (const auto& job : s.batch_jobs) {
    if (job.status == "abandoned") continue;  // never created: nothing runs at the provider
    std::printf("  batch job %s  %s %s  %s: %s, %s of %s lines answered (%s errored)\n", job.key.c_str(),
                job.provider.c_str(), job.batch_id.empty() ? "(no id yet)" : job.batch_id.c_str(), job.node.c_str(),
                job.provider_status.empty() ? job.status.c_str() : job.provider_status.c_str(),
                with_commas(static_cast<std::uint64_t>(job.succeeded + job.errored)).c_str(),
                with_commas(static_cast<std::uint64_t>(job.lines)).c_str(),
                with_commas(static_cast<std::uint64_t>(job.errored)).c_str());
  }
  if (const auto changed = result_settings_changed(*result.plan); !changed.empty())
    std::printf(
        "  the graph changed since: %s (the next run starts over; with cache = true, unchanged calls are "
        "answered from the cache)\n",
        describe_changes(changed).c_str());
  return kExitOk;
}

/// `flowbatch plugins [graph.toml]`: every type, with the graph's plugins loaded first. The graph
/// is compiled (without checking files or variables) only for its plugins; its other errors are
/// listed after the types, which may be what helps fix them.
int cmd_plugins(TypeRegistry& registry, const std::string& graph) {
  Redactor redactor;
  const CompileResult result = compile_for_types(registry, graph, redactor);
  list_types(registry);
  std::fflush(stdout);
  report(result, redactor);
  return result.diagnostics.has_errors() ? kExitConfig : kExitOk;
}

/// `flowbatch graph.toml` means `flowbatch run graph.toml`.
std::vector<std::string> with_default_command(CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0].rfind('-', 0) == 0) return args;
  for (const CLI::App* command : app.get_subcommands([](CLI::App*) { return true; }))
    if (command->get_name() == args[0]) return args;
  args.insert(args.begin(), "run");  // `flowbatch graph.toml` runs it
  return args;
}

}  // namespace

int run_cli(int argc, char** argv, TypeRegistry& registry) {
  disable_core_dumps();  // before any key is read from the environment
  CLI::App app{"flowbatch: run large AI/LLM batch jobs as dataflow graphs", "flowbatch"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text(), "print the version, the plugin API and the build, and exit");
  app.footer(help_footer());

  GraphArgs run_args, validate_args, graph_args, replay_args, status_args;
  RunFlags run_flags, replay_flags;
  std::string dead_letters;
  bool no_environment = false, deny_warnings = false;
  std::string plugins_graph;

  auto* run = app.add_subcommand("run", "run a pipeline");
  add_graph_args(*run, run_args);
  auto add_run_flags = [](CLI::App& cmd, RunFlags& f) {
    cmd.add_option("--progress", f.progress, "auto | tty | plain | off: sets pipeline.progress")
        ->check(CLI::IsMember(progress_modes()));
    cmd.add_flag("-q,--quiet", f.quiet, "print only warnings, errors and a failed run's summary");
    cmd.add_flag("-v,--verbose", f.verbose, "also print debug lines (rate and concurrency decisions)");
    cmd.add_option("--report", f.report_path, "also write the end-of-run report as JSON to this file")
        ->type_name("FILE");
    cmd.add_option("--summary-json", f.summary_path,
                   "also write the run summary (docs/summary.md) to this file; it is always written to "
                   ".flowbatch/<graph>.summary.json")
        ->type_name("FILE");
    cmd.add_option("--max-cost", f.max_cost, "a hard cost cap in USD: sets pipeline.max_cost_usd")->type_name("USD");
    cmd.add_option("--log-format", f.log_format,
                   "human | json: json writes each log line as one JSON object (time, level, kind, node, message, "
                   "fields), for log shippers")
        ->check(CLI::IsMember({"human", "json"}));
    cmd.add_option("--listen", f.listen, "serve /metrics, /status and control on HOST:PORT: sets pipeline.listen")
        ->type_name("HOST:PORT");
  };
  add_run_flags(*run, run_flags);
  run->add_flag("--fresh", run_flags.fresh, "start over: archive the previous state instead of resuming");
  run->add_flag("--cancel-batches", run_flags.cancel_batches,
                "cancel the provider batch jobs earlier runs left (what they did not answer is sent again)");

  auto* status = app.add_subcommand("status", "the progress of the running or last run, from its state");
  add_graph_args(*status, status_args);

  auto* replay =
      app.add_subcommand("replay", "feed a dead-letter file back through a graph's sources (after fixing the cause)");
  replay->add_option("dead_letters", dead_letters, "the dead-letter file (it is moved aside, then read)")
      ->required()
      ->type_name("FILE");
  add_graph_args(*replay, replay_args);
  add_run_flags(*replay, replay_flags);

  auto* validate =
      app.add_subcommand("validate", "check a pipeline without running it (exit 0, or 78 with every error)");
  add_graph_args(*validate, validate_args);
  validate->add_flag("--no-environment", no_environment, "do not check input files or environment variables");
  validate->add_flag("--deny-warnings", deny_warnings, "treat warnings as errors");
  add_load_plugins_flag(*validate, validate_args);

  auto* graph = app.add_subcommand("graph", "print the compiled graph as Graphviz DOT");
  add_graph_args(*graph, graph_args);
  add_load_plugins_flag(*graph, graph_args);

  auto* plugins =
      app.add_subcommand("plugins", "list every node type (built-in and from a graph's plugins) and its keys");
  plugins->add_option("graph", plugins_graph, "also load the plugins this graph names")->type_name("GRAPH");

  std::string schema_graph, output;
  auto* schema = app.add_subcommand("schema", "print the JSON Schema of graph files (for editors and validators)");
  schema->add_option("graph", schema_graph, "also describe the types of the plugins this graph names (it loads them)")
      ->type_name("GRAPH");
  auto add_output = [&output](CLI::App& cmd) {
    cmd.add_option("-o,--output", output, "write to this file instead of stdout")->type_name("FILE");
  };
  add_output(*schema);

  bool man = false;
  auto* help = app.add_subcommand("help", "print this help, or the manual page flowbatch(1)");
  help->add_flag("--man", man, "print the manual page in roff (`man -l -` reads it)");
  add_output(*help);

  std::string shell;
  auto* completion = app.add_subcommand("completion", "print the shell completion script for bash or zsh");
  completion->add_option("shell", shell, "the shell")->required()->check(CLI::IsMember({"bash", "zsh"}));
  add_output(*completion);

  CacheCommand cache_command;
  auto* cache = add_cache_command(app, cache_command);
  EstimateCommand estimate_command;
  auto* estimate = add_estimate_command(app, estimate_command);
  CtlCommand ctl_command;
  auto* ctl = add_ctl_command(app, ctl_command);

  const std::vector<std::string> args = with_default_command(app, argc, argv);
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that succeed; every real usage error exits with
    // EX_USAGE (64), not CLI11's own numbers.
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (run->parsed()) return cmd_run(registry, run_args, run_flags);
  if (replay->parsed()) return cmd_replay(registry, dead_letters, replay_args, replay_flags);
  if (status->parsed()) return cmd_status(registry, status_args);
  if (validate->parsed()) return cmd_validate(registry, validate_args, !no_environment, deny_warnings);
  if (graph->parsed()) return cmd_graph(registry, graph_args);
  if (plugins->parsed()) return cmd_plugins(registry, plugins_graph);
  if (cache->parsed()) return run_cache_command(registry, cache_command);
  if (estimate->parsed()) return run_estimate_command(registry, estimate_command);
  if (ctl->parsed()) return run_ctl_command(registry, ctl_command);
  if (schema->parsed()) return cmd_schema(registry, schema_graph, output);
  if (help->parsed()) return cmd_help(app, man, output);
  if (completion->parsed()) return cmd_completion(app, registry, shell, output);
  return kExitOk;
}

}  // namespace flowbatch
