// command: a flowbatch call provider that answers each request by running a local program.
//
//   [pipeline]
//   plugins = ["command_provider"]
//
//   [providers.local]
//   type = "command"
//   command = ["sh", "scripts/classify.sh"]   # relative paths start at the graph's folder
//   max_concurrency = 4
//   timeout_ms = 10000
//
// The program gets one JSON line per item on stdin and answers one line per item on stdout, in
// the same order. A chat call sends one item per request ({"id", "system", "prompt"}); an
// embeddings call sends a whole batch in one request ({"id", "input"} per item), so the program
// starts once per batch. A non-zero exit is a `server` failure (retried), a time-out `timeout`, a
// wrong number of lines or bad JSON `parse`, a program that cannot start `invalid_request`.
//
// Running a program blocks, so requests are handed to the engine as Dispatch::run: they run on
// flowbatch's blocking threads (pipeline.blocking_threads), never on its workers or I/O thread.
#include <flowbatch/plugin.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <string>
#include <vector>

#include <flowbatch/subprocess.h>

namespace {

using namespace flowbatch;

constexpr std::size_t kMaxOutput = 64 << 20;

enum class OutputFormat { text, json };

struct CommandConfig {
  std::vector<std::string> argv;
  std::filesystem::path workdir;
  std::chrono::milliseconds timeout{60000};
  OutputFormat output = OutputFormat::text;
  std::vector<std::string> environment;  ///< "NAME=value", read once when the graph is loaded
};

Failure failure(ErrorClass c, std::string message) {
  Failure f;
  f.error_class = c;
  f.message = std::move(message);
  return f;
}

/// The last line of what the program wrote to stderr, for the failure message.
std::string last_line(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  const std::size_t nl = text.rfind('\n');
  std::string line(nl == std::string_view::npos ? text : text.substr(nl + 1));
  if (line.size() > 300) line = line.substr(0, 300) + "...";
  return line;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return lines;
}

class CommandProvider final : public Provider {
 public:
  explicit CommandProvider(CommandConfig config) : config_(std::move(config)) {}

  bool supports(Endpoint endpoint) const override {
    return endpoint == Endpoint::chat || endpoint == Endpoint::embeddings;
  }

  Dispatch dispatch(const CallRequest& request) override {
    const bool embeddings = request.endpoint == Endpoint::embeddings;
    std::string input;
    for (std::size_t i = 0; i < request.items.size(); ++i) {
      boost::json::object line;
      line["id"] = request.items[i]->id;
      if (embeddings) {
        line["input"] = i < request.inputs.size() ? request.inputs[i] : std::string();
      } else {
        for (const ChatMessage& m : request.messages) line[m.role == "user" ? "prompt" : m.role] = m.content;
      }
      input += boost::json::serialize(line);
      input += '\n';
    }
    const OutputFormat format = embeddings ? OutputFormat::json : config_.output;
    return Dispatch::run(
        [this, input = std::move(input), n = request.items.size(), format] { return run(input, n, format); });
  }

 private:
  CallResult run(const std::string& input, std::size_t items, OutputFormat format) const {
    CallResult r;
    const auto p = run_process(config_.argv, config_.workdir, config_.environment, input, config_.timeout, kMaxOutput);
    if (!p.spawn_error.empty()) {
      r.failure = failure(ErrorClass::invalid_request, p.spawn_error);
    } else if (p.timed_out) {
      r.failure = failure(ErrorClass::timeout,
                          "the command took longer than " + std::to_string(config_.timeout.count()) + " ms");
    } else if (p.output_too_large) {
      r.failure = failure(ErrorClass::parse, "the command wrote more than 64 MB");
    } else if (p.signal != 0) {
      r.failure = failure(ErrorClass::server, "the command was killed by signal " + std::to_string(p.signal));
    } else if (p.exit_code != 0) {
      const std::string why = last_line(p.err);
      r.failure = failure(ErrorClass::server, "the command exited with status " + std::to_string(p.exit_code) +
                                                  (why.empty() ? "" : ": " + why));
    } else {
      read_outputs(p.out, items, format, r);
    }
    r.finish_reason = r.failure ? "" : "stop";
    return r;
  }

  static void read_outputs(std::string_view out, std::size_t items, OutputFormat format, CallResult& r) {
    const std::vector<std::string_view> lines = split_lines(out);
    if (lines.size() != items) {
      r.failure = failure(ErrorClass::parse, "the command answered " + std::to_string(lines.size()) + " lines for " +
                                                 std::to_string(items) + (items == 1 ? " item" : " items"));
      return;
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (format == OutputFormat::text) {
        r.outputs.emplace_back(boost::json::string(lines[i]));
        continue;
      }
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(lines[i], ec);
      if (ec) {
        r.outputs.clear();
        r.failure = failure(ErrorClass::parse,
                            "line " + std::to_string(i + 1) + " of the command's answer is not JSON: " + ec.message());
        return;
      }
      r.outputs.push_back(std::move(v));
    }
  }

  CommandConfig config_;
};

std::shared_ptr<Provider> configure(Options& options) {
  CommandConfig c;
  c.argv = options.strings("command");
  if (c.argv.empty() || c.argv[0].empty()) {
    options.error("command", "name the program to run, then its arguments: [\"sh\", \"classify.sh\"]");
    return nullptr;
  }
  c.workdir = options.path("workdir");
  c.timeout = std::chrono::milliseconds(options.integer("timeout_ms"));
  c.environment = minimal_environment(options.strings("pass_env"));
  const std::string output = options.string("output");
  if (output == "json") c.output = OutputFormat::json;
  else if (output != "text") {
    options.error("output", "must be \"text\" or \"json\"");
    return nullptr;
  }
  if (options.check_environment() && find_program(c.argv[0], c.workdir).empty()) {
    options.error("command",
                  "cannot find the program \"" + c.argv[0] + "\" (" +
                      (c.argv[0].find('/') != std::string::npos ? "relative to " + c.workdir.string() : "in PATH") +
                      ") or it is not executable");
    return nullptr;
  }
  return std::make_shared<CommandProvider>(std::move(c));
}

}  // namespace

FLOWBATCH_PLUGIN(registry) {
  ProviderType type;
  type.name = "command";
  type.summary = "runs a local program per request: JSON lines in on stdin, one answer line per item out";
  type.keys = {
      {"command", KeyKind::string_list, true, "", "the program and its arguments"},
      {"workdir", KeyKind::path, false, ".", "where it runs (default: the graph file's folder)"},
      {"output", KeyKind::string, false, "text",
       "how answer lines are read: text, or json (embeddings are always json)"},
      {"pass_env", KeyKind::string_list, false, "",
       "environment variables the program gets besides PATH, HOME, LANG, LC_*, TMPDIR, TZ, USER, LOGNAME, SHELL, TERM"},
  };
  type.configure = configure;
  registry.add(std::move(type));
}
