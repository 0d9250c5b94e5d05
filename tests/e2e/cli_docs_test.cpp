// What the program says about itself: --version, the man page and the shell completions, each
// generated from the command line's definition (checked here against `--help`, and by running
// the completion scripts in the shells they are for).
#include <doctest/doctest.h>

#include <sstream>

#include "flowbatch/version.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {

/// The sub-commands `flowbatch --help` lists (the lines under "Subcommands:").
std::vector<std::string> commands_in_help() {
  auto help = run_flowbatch({"--help"});
  REQUIRE(help.exit_code == 0);
  std::istringstream lines(help.out.substr(help.out.find("Subcommands:")));
  std::vector<std::string> out;
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line) && line.starts_with("  ")) {
    std::istringstream words(line);
    std::string name;
    words >> name;
    out.push_back(name);
  }
  return out;
}

/// The long options `flowbatch CMD --help` lists.
std::vector<std::string> options_in_help(const std::string& command) {
  auto help = run_flowbatch({command, "--help"});
  REQUIRE(help.exit_code == 0);
  std::vector<std::string> out;
  for (std::size_t at = help.out.find("--"); at != std::string::npos; at = help.out.find("--", at + 2)) {
    const std::size_t end = help.out.find_first_of(" ,\n", at);
    const std::string name = help.out.substr(at, end - at);
    if (name.size() > 2 && name.find('=') == std::string::npos && (at == 0 || help.out[at - 1] == ' '))
      out.push_back(name);
  }
  return out;
}

/// COMPREPLY, one per line, after bash completes the words of `line` (the last word is the one
/// being completed) with the generated script, in `cwd`.
std::string bash_complete(const fs::path& script, const std::string& line, const fs::path& cwd) {
  const std::string program = "source " + script.string() +
                              "\n"
                              "read -ra COMP_WORDS <<< \"$LINE\"\n"
                              "[[ $LINE == *' ' ]] && COMP_WORDS+=('')\n"
                              "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
                              "_flowbatch\n"
                              "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
  ScopedEnv env("LINE", line);
  auto r = run_process({"bash", "--norc", "-c", program}, cwd);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return r.out;
}

const char* kGraph =
    "[pipeline]\nname = \"g\"\n\n[sources.tickets]\npath = \"in.jsonl\"\n\n"
    "  [providers.sim]  # indented, with a comment\ntype = \"mock\"\n";

}  // namespace

TEST_CASE("--version names the version, the plugin API and the build") {
  auto r = run_flowbatch({"--version"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.starts_with("flowbatch 0."));
  CHECK(r.out.find("plugin API " + std::to_string(kPluginApiVersion) + " (" + kPluginBuild + ")") != std::string::npos);
  CHECK(r.out.find("Boost 1.81.") != std::string::npos);
  CHECK((r.out.find("built with GCC ") != std::string::npos || r.out.find("built with clang ") != std::string::npos));
}

TEST_CASE("the man page has every command and option --help has, and man renders it without a warning") {
  auto man = run_flowbatch({"help", "--man"});
  REQUIRE(man.exit_code == 0);
  CHECK(man.out.starts_with("'\\\" t\n"));
  CHECK(man.out.find(".TH FLOWBATCH 1") != std::string::npos);
  const auto commands = commands_in_help();
  CHECK(commands.size() >= 9);
  for (const auto& command : commands) {
    CAPTURE(command);
    CHECK(man.out.find(".SS \"" + command + "\"") != std::string::npos);
    for (std::string option : options_in_help(command)) {
      CAPTURE(option);
      if (option == "--help") continue;  // under OPTIONS, once
      std::string roff;                  // as the man page spells it: \-\-name, its hyphens as minus signs
      for (char c : option) roff += c == '-' ? std::string("\\-") : std::string(1, c);
      CHECK(man.out.find("\\fB" + roff + "\\fR") != std::string::npos);
    }
  }
  CHECK(man.out.find(".SH EXIT STATUS") != std::string::npos);
  CHECK(man.out.find("\\fB75\\fR") != std::string::npos);

  TempDir dir;
  const fs::path page = dir.write("flowbatch.1", man.out);
  // -ww: every warning; the rendering goes to /dev/null, the warnings to stderr.
  auto groff = run_process({"groff", "-man", "-ww", "-z", "-t", page.string()});
  CHECK(groff.exit_code == 0);
  CHECK_MESSAGE(groff.err.empty(), groff.err);
}

TEST_CASE("bash completes commands, options, their values, graph files and the graph's --set keys") {
  TempDir dir;
  const fs::path script = dir / "flowbatch.bash";
  REQUIRE(run_flowbatch({"completion", "bash", "-o", script.string()}).exit_code == 0);
  dir.write("g.toml", kGraph);
  dir.write("notes.txt", "");
  fs::create_directory(dir / "sub");

  const std::string commands = bash_complete(script, "flowbatch ", dir.path());
  for (const char* word : {"run\n", "validate\n", "schema\n", "completion\n", "g.toml\n", "sub\n"})
    CHECK_MESSAGE(commands.find(word) != std::string::npos, word, commands);
  CHECK(commands.find("notes.txt") == std::string::npos);
  CHECK(bash_complete(script, "flowbatch va", dir.path()) == "validate\n");

  const std::string options = bash_complete(script, "flowbatch run g.toml --", dir.path());
  for (const char* word : {"--set\n", "--fresh\n", "--progress\n", "--report\n"})
    CHECK(options.find(word) != std::string::npos);
  CHECK(options.find("--load-plugins") == std::string::npos);  // validate's, not run's
  CHECK(bash_complete(script, "flowbatch validate g.toml --lo", dir.path()) == "--load-plugins\n");

  CHECK(bash_complete(script, "flowbatch run g.toml --progress ", dir.path()) == "auto\ntty\nplain\noff\n");
  CHECK(bash_complete(script, "flowbatch completion ", dir.path()) == "bash\nzsh\n");
  CHECK(bash_complete(script, "flowbatch run ", dir.path()).find("g.toml\n") != std::string::npos);
  CHECK(bash_complete(script, "flowbatch run --report ", dir.path()).find("notes.txt\n") != std::string::npos);

  // --set offers [pipeline]'s keys and those of each table the graph has (its [table.name] headers).
  const std::string keys = bash_complete(script, "flowbatch run g.toml --set ", dir.path());
  for (const char* key : {"pipeline.max_in_flight=\n", "sources.tickets.path=\n", "sources.tickets.delimiter=\n",
                          "providers.sim.latency_ms=\n", "providers.sim.max_concurrency=\n"})
    CHECK_MESSAGE(keys.find(key) != std::string::npos, key, keys);
  CHECK(keys.find("sinks.") == std::string::npos);
  CHECK(bash_complete(script, "flowbatch g.toml --set sources.tickets.id_f", dir.path()) ==
        "sources.tickets.id_field=\n");
}

TEST_CASE("the zsh script is valid zsh, and its shared part decides as bash's does") {
  TempDir dir;
  const fs::path script = dir / "_flowbatch";
  REQUIRE(run_flowbatch({"completion", "zsh", "-o", script.string()}).exit_code == 0);
  const std::string text = read_file(script);
  CHECK(text.starts_with("#compdef flowbatch\n"));
  auto syntax = run_process({"zsh", "-n", script.string()});
  CHECK_MESSAGE(syntax.exit_code == 0, syntax.err);

  // Its functions without the last line (which completes, and only works inside completion).
  const std::string functions = text.substr(0, text.rfind("_flowbatch \"$@\""));
  dir.write("functions.zsh", functions);
  dir.write("g.toml", kGraph);
  const auto decide = [&](const std::string& words, const std::string& cur = "") {
    ScopedEnv env("CUR", cur);
    auto r = run_process({"zsh", "-f", "-c",
                          "source ./functions.zsh; _flowbatch_cur=$CUR; _flowbatch_decide " + words +
                              "; print -r -- \"$cmd|$graph|$what\""},
                         dir.path());
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return r.out;
  };
  CHECK(decide("") == "||commands\n");
  CHECK(decide("run") == "run||graph\n");
  CHECK(decide("g.toml --set") == "run|g.toml|set\n");
  CHECK(decide("replay failed.jsonl") == "replay||graph\n");
  CHECK(decide("run g.toml --progress") == "run|g.toml|words:auto,tty,plain,off\n");
  CHECK(decide("validate g.toml", "--") == "validate|g.toml|options:validate\n");
  auto keys = run_process({"zsh", "-f", "-c", "source ./functions.zsh; _flowbatch_set_keys g.toml"}, dir.path());
  CHECK(keys.out.find("providers.sim.latency_ms=\n") != std::string::npos);
  CHECK(keys.out.find("pipeline.progress=\n") != std::string::npos);
}
