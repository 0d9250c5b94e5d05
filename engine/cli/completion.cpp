// Shell completion scripts, generated from the CLI11 definition of the command line and from the
// graph format's keys. bash and zsh share everything but the last step: the part that reads the
// words typed so far and decides what comes next is written once, in the syntax both accept
// (`case`, `[[ ]]`, `(( ))`, "$@"), and each shell only turns that decision into candidates.
#include <fmt/format.h>

#include <set>

#include "engine/cli/cli_docs.h"

namespace flowbatch {
namespace {

/// What an option's value or a positional argument is, as the script names it: "graph" (a TOML
/// file), "file", "set" (a --set key) or "words:a,b,c" (one of these); "" when nothing helps.
std::string value_kind(const CLI::Option& o) {
  const std::string type = o.get_type_name();
  const auto open = type.find('{'), close = type.rfind('}');
  if (open != std::string::npos && close != std::string::npos && close > open)
    return "words:" + type.substr(open + 1, close - open - 1);  // CLI::IsMember: "TEXT:{auto,tty}"
  if (type == "GRAPH") return "graph";
  if (type == "FILE") return "file";
  if (type == "KEY=VALUE") return "set";
  return "";
}

std::vector<const CLI::App*> visible_commands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
}

std::vector<const CLI::Option*> visible_options(const CLI::App& app, bool positional) {
  return app.get_options(
      [positional](const CLI::Option* o) { return !o->get_group().empty() && o->get_positional() == positional; });
}

std::vector<std::string> option_names(const CLI::Option& o) {
  std::vector<std::string> names;
  for (const auto& s : o.get_snames()) names.push_back("-" + s);
  for (const auto& l : o.get_lnames()) names.push_back("--" + l);
  return names;
}

/// A single-quoted shell word.
std::string shell_word(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// The functions both shells run: the keys of each table, the `--set` keys of a graph's tables,
/// and _flowbatch_decide, which sets `what` to "commands", "options:CMD" or a value kind.
std::string shared_part(const CLI::App& app, const TableKeys& keys) {
  std::string out = "_flowbatch_table_keys() {\n  case $1 in\n";
  for (const auto& [table, names] : keys) {
    std::string list;
    for (const auto& k : names) list += (list.empty() ? "" : " ") + k;
    out += fmt::format("    {}) echo {} ;;\n", table, shell_word(list));
  }
  out += "  esac\n}\n\n";
  // A graph's tables come from its [table.name] headers; no program runs at a tab press (a graph
  // can name plugins, and loading one runs its code).
  out += R"SH(# Prints TABLE.NAME.KEY= for [pipeline] and each [table.name] header of the graph file $1.
_flowbatch_set_keys() {
  local key header
  for key in $(_flowbatch_table_keys pipeline); do echo "pipeline.$key="; done
  [[ -r $1 ]] || return 0
  sed -n 's/^[[:space:]]*\[\([a-z_]*\.[A-Za-z0-9_-]*\)\].*/\1/p' "$1" | while read -r header; do
    for key in $(_flowbatch_table_keys "${header%%.*}"); do echo "$header.$key="; done
  done
}

)SH";
  std::set<std::string> valued;  // options that take a value: the word after them is that value
  std::string option_values, positionals, options;
  for (const CLI::App* sub : visible_commands(app)) {
    std::string names;
    for (const CLI::Option* o : visible_options(*sub, false)) {
      for (const auto& n : option_names(*o)) {
        names += (names.empty() ? "" : " ") + n;
        if (!takes_value(*o)) continue;
        valued.insert(n);
        if (const std::string kind = value_kind(*o); !kind.empty())
          option_values += fmt::format("    {}:{}) what={} ;;\n", sub->get_name(), n, shell_word(kind));
      }
    }
    options += fmt::format("    {}) echo {} ;;\n", sub->get_name(), shell_word(names));
    int index = 0;
    for (const CLI::Option* o : visible_options(*sub, true)) {
      if (const std::string kind = value_kind(*o); !kind.empty())
        positionals += fmt::format("    {}:{}) what={} ;;\n", sub->get_name(), index, shell_word(kind));
      ++index;
    }
  }
  std::string top, valued_list;
  for (const CLI::Option* o : visible_options(app, false))
    for (const auto& n : option_names(*o)) top += (top.empty() ? "" : " ") + n;
  for (const auto& n : valued) valued_list += " " + n;
  out += "# The options of each command.\n_flowbatch_options() {\n  case $1 in\n    '') echo " + shell_word(top) +
         " ;;\n" + options + "  esac\n}\n\n";
  out += R"SH(# Reads the words before the cursor ("$@"; the last one is the word before it) and sets `what`
# to what the word at the cursor may be; `cmd` and `graph` to the command and graph file typed.
_flowbatch_decide() {
  local w prev="" skip=0 npos=-1
  cmd="" graph="" what=""
  for w in "$@"; do
    if (( skip )); then skip=0; prev=$w; continue; fi
    case $w in
      -*) [[ ")SH" +
         valued_list + R"SH( " == *" $w "* ]] && skip=1 ;;
      *) [[ -z $cmd ]] && cmd=$w
         [[ -z $graph && $w == *.toml ]] && graph=$w
         npos=$(( npos + 1 )) ;;
    esac
    prev=$w
  done
  if [[ $cmd == *.toml ]]; then cmd=run; npos=$(( npos + 1 )); fi  # `flowbatch graph.toml` runs it
  if (( skip )); then
    case $cmd:$prev in
)SH" + option_values +
         R"SH(    esac
    return
  fi
  if [[ $_flowbatch_cur == -* ]]; then what="options:$cmd"; return; fi
  if [[ -z $cmd ]]; then what=commands; return; fi
  case $cmd:$npos in
)SH" + positionals +
         R"SH(  esac
}

)SH";
  return out;
}

std::string command_list(const CLI::App& app) {
  std::string list;
  for (const CLI::App* sub : visible_commands(app)) list += (list.empty() ? "" : " ") + sub->get_name();
  return list;
}

}  // namespace

std::string bash_completion(const CLI::App& app, const TableKeys& keys) {
  std::string out =
      "# bash completion for flowbatch. Generated by `flowbatch completion bash` from the command line's\n"
      "# definition and the graph format's keys: regenerate it rather than editing it.\n\n";
  out += shared_part(app, keys);
  out += R"SH(_flowbatch_files() {  # $1: an extension, or nothing for any file
  local IFS=$'\n'
  compopt -o filenames 2>/dev/null
  if [[ -n $1 ]]; then
    COMPREPLY+=($(compgen -d -- "$_flowbatch_cur") $(compgen -f -X "!*.$1" -- "$_flowbatch_cur"))
  else
    COMPREPLY+=($(compgen -f -- "$_flowbatch_cur"))
  fi
}

_flowbatch() {
  local _flowbatch_cur=${COMP_WORDS[COMP_CWORD]} cmd graph what
  COMPREPLY=()
  _flowbatch_decide "${COMP_WORDS[@]:1:COMP_CWORD-1}"
  case $what in
    commands)
      COMPREPLY=($(compgen -W ")SH" +
         command_list(app) + R"SH(" -- "$_flowbatch_cur"))
      _flowbatch_files toml ;;
    options:*) COMPREPLY=($(compgen -W "$(_flowbatch_options "${what#options:}")" -- "$_flowbatch_cur")) ;;
    graph) _flowbatch_files toml ;;
    file) _flowbatch_files ;;
    set)
      COMPREPLY=($(compgen -W "$(_flowbatch_set_keys "$graph")" -- "$_flowbatch_cur"))
      compopt -o nospace 2>/dev/null ;;
    words:*)
      local IFS=,
      COMPREPLY=($(compgen -W "${what#words:}" -- "$_flowbatch_cur")) ;;
  esac
  return 0
}
complete -F _flowbatch flowbatch
)SH";
  return out;
}

std::string zsh_completion(const CLI::App& app, const TableKeys& keys) {
  std::string out =
      "#compdef flowbatch\n"
      "# zsh completion for flowbatch. Generated by `flowbatch completion zsh` from the command line's\n"
      "# definition and the graph format's keys: regenerate it rather than editing it.\n\n";
  out += shared_part(app, keys);
  std::string described;
  for (const CLI::App* sub : visible_commands(app))
    described += "    " + shell_word(sub->get_name() + ":" + sub->get_description()) + "\n";
  out += R"SH(_flowbatch() {
  local _flowbatch_cur=${words[CURRENT]} cmd graph what
  local -a commands keys
  _flowbatch_decide "${(@)words[2,CURRENT-1]}"
  case $what in
    commands)
      commands=(
)SH" + described +
         R"SH(      )
      _describe command commands
      _files -g '*.toml' ;;
    options:*) compadd -- ${=$(_flowbatch_options "${what#options:}")} ;;
    graph) _files -g '*.toml' ;;
    file) _files ;;
    set)
      keys=(${(f)"$(_flowbatch_set_keys "$graph")"})
      compadd -S '' -- $keys ;;
    words:*) compadd -- ${(s:,:)${what#words:}} ;;
  esac
}

_flowbatch "$@"
)SH";
  return out;
}

}  // namespace flowbatch
