#include "engine/cli/ctl_command.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <boost/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>

#include "engine/core/redactor.h"
#include "engine/graph/compiler.h"
#include "engine/runtime/exit_codes.h"
#include "engine/runtime/run_control.h"

namespace flowbatch {
namespace {

struct Reply {
  long status = 0;
  std::string body;
  std::string error;  ///< set when no answer came
};

std::size_t append(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

/// One short request to the run's endpoint. A command, not the engine: a plain blocking transfer
/// is what it needs (the engine's I/O loop belongs to runs).
Reply request(const std::string& method, const std::string& url, const std::string& token, const std::string& body) {
  Reply reply;
  CURL* curl = curl_easy_init();
  if (!curl) return {0, "", "cannot start libcurl"};
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) reply.error = curl_easy_strerror(code);
  else curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

/// The running job's address: what it recorded beside its state, else the graph's own.
std::string find_address(const Plan& plan) {
  if (const auto file = listen_file(plan); !file.empty()) {
    std::ifstream in(file);
    std::string address;
    if (std::getline(in, address) && !address.empty()) return address;
  }
  return plan.pipeline.listen;
}

/// "providers.NAME.KEY=VALUE" settings, grouped by provider as /limits bodies; a reason on error.
std::map<std::string, boost::json::object> limit_bodies(const std::vector<std::string>& settings, std::string& error) {
  std::map<std::string, boost::json::object> bodies;
  for (const std::string& s : settings) {
    const std::size_t eq = s.find('=');
    const std::string key = s.substr(0, eq);
    const std::size_t dot = key.rfind('.');
    if (eq == std::string::npos || key.rfind("providers.", 0) != 0 || dot <= 10) {
      error = fmt::format("\"{}\": expected providers.NAME.KEY=VALUE", s);
      return {};
    }
    boost::system::error_code ec;
    const boost::json::value value = boost::json::parse(s.substr(eq + 1), ec);
    if (ec || !value.is_number()) {
      error = fmt::format("\"{}\": the value must be a number", s);
      return {};
    }
    const std::string provider = key.substr(10, dot - 10);
    bodies[provider]["provider"] = provider;
    bodies[provider][key.substr(dot + 1)] = value;
  }
  if (bodies.empty()) error = "set needs at least one providers.NAME.KEY=VALUE";
  return bodies;
}

int print_reply(const Reply& reply, const std::string& address, const std::string& graph) {
  if (!reply.error.empty()) {
    std::fprintf(stderr, "flowbatch ctl: no run of %s answers at %s (%s); is it running, with pipeline.listen set?\n",
                 graph.c_str(), address.c_str(), reply.error.c_str());
    return kExitResumable;
  }
  std::fputs(reply.body.c_str(), reply.status == 200 ? stdout : stderr);
  if (reply.status == 200) return kExitOk;
  std::fprintf(stderr, "flowbatch ctl: the run answered %ld\n", reply.status);
  return reply.status == 401 ? kExitConfig : kExitUsage;
}

}  // namespace

CLI::App* add_ctl_command(CLI::App& app, CtlCommand& command) {
  auto* ctl = app.add_subcommand("ctl", "steer the running job of a graph: pause, resume, drain, set limits, status");
  ctl->add_option("graph", command.graph, "the pipeline's TOML file")->required()->type_name("GRAPH");
  ctl->add_option("action", command.action, "pause | resume | drain | status | metrics | set")
      ->required()
      ->check(CLI::IsMember({"pause", "resume", "drain", "status", "metrics", "set"}));
  ctl->add_option("settings", command.settings,
                  "set: providers.NAME.requests_per_minute=600 (also tokens_per_minute, "
                  "max_concurrency)")
      ->type_name("KEY=VALUE");
  ctl->add_option("--set", command.overrides, "override a key of the graph, as for run")->type_name("KEY=VALUE");
  return ctl;
}

int run_ctl_command(TypeRegistry& registry, const CtlCommand& command) {
  Redactor redactor;
  CompileOptions options;
  options.overrides = command.overrides;
  options.check_environment = false;
  const CompileResult result = compile_file(command.graph, registry, redactor, options);
  if (!result.plan) {
    std::fputs(redactor.redact(result.diagnostics.str()).c_str(), stderr);
    return kExitConfig;
  }
  const Plan& plan = *result.plan;
  const std::string address = find_address(plan);
  if (address.empty()) {
    std::fprintf(stderr, "flowbatch ctl: %s does not listen (set pipeline.listen, or run it with --listen)\n",
                 command.graph.c_str());
    return kExitConfig;
  }
  const std::string base = "http://" + address;
  const std::string& token = plan.pipeline.listen_token;
  if (command.action == "status" || command.action == "metrics")
    return print_reply(request("GET", base + "/" + command.action, token, ""), address, command.graph);
  if (command.action != "set")
    return print_reply(request("POST", base + "/" + command.action, token, "{}"), address, command.graph);
  std::string error;
  const auto bodies = limit_bodies(command.settings, error);
  if (!error.empty()) {
    std::fprintf(stderr, "flowbatch ctl set: %s\n", error.c_str());
    return kExitUsage;
  }
  for (const auto& [provider, body] : bodies)
    if (const int code =
            print_reply(request("POST", base + "/limits", token, boost::json::serialize(body)), address, command.graph);
        code != kExitOk)
      return code;
  return kExitOk;
}

}  // namespace flowbatch
