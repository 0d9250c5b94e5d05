#include "engine/graph/pipeline_options.h"

#include <fmt/format.h>
#include <algorithm>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "engine/config/expanded_secrets.h"
#include "engine/core/text.h"
#include "engine/io/line_reader.h"
#include "engine/ratelimit/file_quota_store.h"

namespace flowbatch {

const std::vector<std::string>& progress_modes() {
  static const std::vector<std::string> modes = {"auto", "tty", "plain", "off"};
  return modes;
}

const std::vector<KeySpec>& pipeline_keys() {
  static const std::vector<KeySpec> keys = {
      {"name", KeyKind::string, false, "", "the job's name (default: the graph file's name)"},
      {"max_in_flight", KeyKind::integer, false, "10000",
       "items admitted but not yet at a sink or dead letter; bounds memory"},
      {"dead_letter", KeyKind::string, false, "",
       "the [dead_letters] node that unconnected error ports feed (default: the only one, else an implicit "
       "out/<name>.dead_letter.jsonl)"},
      {"shutdown_grace_ms", KeyKind::integer, false, "30000",
       "after Ctrl-C, how long in-flight items may finish before the run stops"},
      {"progress", KeyKind::string, false, "auto",
       "how progress is shown: a live line on a terminal (tty), lines (plain), "
       "none (off), or tty when stderr is a terminal, else plain (auto)",
       progress_modes()},
      {"progress_interval_ms", KeyKind::integer, false, "10000", "period of plain (non-terminal) progress lines"},
      {"state", KeyKind::path, false, ".flowbatch/<graph>.db",
       "where the run's state lives (what is done, sink positions, the cache), so a killed run resumes; \"none\": keep "
       "none"},
      {"cache", KeyKind::path, false, ".flowbatch/cache.db",
       "the lasting response cache of calls with cache = true: it outlives runs and --fresh, and graphs naming the "
       "same file share it; \"none\": keep no cache"},
      {"threads", KeyKind::integer, false, "0",
       "threads for the graph's compute (parsing, templating, writing); 0: one when every provider is a remote API "
       "(openai, anthropic, http, or a plugin type registered remote), whose answers set the pace, else one per core"},
      {"io_threads", KeyKind::integer, false, "1",
       "threads running HTTP transfers (one libcurl multi loop each); one is plenty below ~5,000 requests/s"},
      {"plugins", KeyKind::string_list, false, "",
       "shared libraries adding node types: paths relative to the graph, or names looked up in FLOWBATCH_PLUGIN_PATH "
       "and the program's plugin folder"},
      {"blocking_threads", KeyKind::integer, false, "8",
       "threads for providers whose requests block (a plugin running a local command); started only when used"},
      {"response_memory_mb", KeyKind::integer, false, "1024",
       "the most memory all HTTP answers being received at once may take; a transfer that would go beyond it fails "
       "(network, retried)"},
      {"max_cost_usd", KeyKind::number, false, "0",
       "a hard cap on what the job may cost in USD (earlier runs of its state included): a request whose worst case "
       "would pass it does not start, and the run stops resumably (exit 75); 0: no cap"},
      {"warn_cost_usd", KeyKind::number, false, "0", "say so once when the job's cost passes this (USD; 0: never)"},
      {"window", KeyKind::string, false, "",
       "the hours in which requests may start, e.g. \"22:00-06:00\" (local time) or \"22:00-06:00 UTC+02:00\"; "
       "outside it the run waits"},
      {"window_exit", KeyKind::boolean, false, "false",
       "outside the window, stop resumably (exit code 75) instead of waiting, for cron or a systemd timer"},
      {"listen", KeyKind::string, false, "",
       "host:port of the run's HTTP endpoint (/metrics, /status, control; see docs/watching.md): off when empty; "
       "anything but loopback needs a token"},
      {"listen_token_env", KeyKind::string, false, "",
       "the environment variable holding the token control requests must bear (Authorization: Bearer)"},
      {"listen_token_file", KeyKind::path, false, "",
       "a file holding that token instead (its first line; keep it readable by you only)"},
      {"report_html", KeyKind::path, false, "",
       "write the run report as one self-contained HTML page here (e.g. \"out/report.html\"), refreshed while "
       "the run goes; empty: none"},
      {"report_interval_ms", KeyKind::integer, false, "10000", "how often the HTML report is rewritten while running"},
  };
  return keys;
}

const std::vector<KeySpec>& provider_keys() {
  static const std::vector<KeySpec> keys = {
      {"type", KeyKind::string, true, "", "the provider type"},
      {"max_concurrency", KeyKind::any, false, "16",
       "requests in flight at once, across every call node using this provider: a number, or \"adaptive\""},
      {"max_concurrency_limit", KeyKind::integer, false, "256",
       "the most an adaptive concurrency may grow to, and the most POST /limits may set (a higher fixed "
       "max_concurrency raises it)"},
      {"initial_concurrency", KeyKind::integer, false, "4", "where an adaptive concurrency starts"},
      {"requests_per_minute", KeyKind::number, false, "0",
       "the most requests started per minute (0: none; a lower limit the server announces wins)"},
      {"tokens_per_minute", KeyKind::number, false, "0",
       "the most tokens (prompt estimate + max_tokens) per minute (0: none; a lower server limit wins)"},
      {"timeout_ms", KeyKind::integer, false, "60000", "one attempt's time-out, from start to last byte"},
      {"connect_timeout_ms", KeyKind::integer, false, "10000", "time-out for connecting (and the TLS handshake)"},
      {"ca_file", KeyKind::path, false, "",
       "PEM file of the certificate authorities to trust for TLS (a private CA, a self-hosted server); default: the "
       "system's"},
      {"low_speed_limit", KeyKind::integer, false, "16",
       "bytes per second: an answer that has begun arriving but comes slower than this for low_speed_time_ms is a "
       "timeout (0: no check)"},
      {"low_speed_time_ms", KeyKind::integer, false, "30000",
       "how long an answer may arrive slower than low_speed_limit"},
      {"shared_limit", KeyKind::string, false, "",
       "share requests_per_minute, tokens_per_minute and max_concurrency with every flowbatch process using the "
       "same: \"redis://[user[:password]@]host[:port][/db]\" (many machines) or \"local:NAME\" (this machine); "
       "empty: this run's own"},
      {"shared_limit_key", KeyKind::string, false, "",
       "the name the limit is shared under in Redis (default: the provider's name); processes with the same key "
       "share it"},
      {"shared_limit_lease_ms", KeyKind::integer, false, "10000",
       "a process not heard from for this long (killed) gives its concurrency slots back"},
      {"prices", KeyKind::any, false, "",
       "what its models cost, USD per million tokens, over the prices its type ships: { \"gpt-4o-mini\" = { input = "
       "0.15, output = 0.6 } } (also cached_input, cache_write, batch_discount, max_output; \"*\": any model)"},
      {"batch_enqueued_tokens", KeyKind::any, false, "",
       "the provider's batch queue limit per model, in prompt tokens: { \"gpt-4o-mini\" = 2000000 } (\"*\": any "
       "model; 0 or none: no limit); batch jobs are cut to fit and wait for room rather than be refused"},
  };
  return keys;
}

namespace {

/// The token of the run's endpoint: from an environment variable or a file, never the graph itself
/// (a graph is shared and committed; a token in it would be too). Registered for redaction.
std::string read_listen_token(OptionReader& o) {
  if (o.has("listen_token_env") && o.has("listen_token_file"))
    o.error("listen_token_file", "give the token in listen_token_env or in listen_token_file, not both");
  if (o.has("listen_token_env")) return o.secret("listen_token_env");
  if (!o.has("listen_token_file")) return {};
  const std::filesystem::path file = o.path("listen_token_file");
  if (auto why = why_unreadable(file)) {
    if (o.check_environment()) o.error("listen_token_file", *why);
    return {};
  }
  std::ifstream in(file);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty()) {
    o.error("listen_token_file", fmt::format("{} is empty", file.string()));
    return {};
  }
  if (o.redactor().add(token) != Redactor::Added::yes)
    o.error("listen_token_file", fmt::format("the token must be at least {} characters", Redactor::kMinLength));
  return token;
}

void read_listen(OptionReader& o, PipelineOptions& p) {
  p.listen = o.string("listen");
  p.listen_token = read_listen_token(o);
  if (p.listen.empty()) return;
  const std::size_t colon = p.listen.rfind(':');
  const std::string host = colon == std::string::npos ? "" : p.listen.substr(0, colon);
  if (host.empty() || colon + 1 == p.listen.size()) {
    o.error("listen", "must be host:port, e.g. \"127.0.0.1:9464\" (port 0: any free port)");
    return;
  }
  // Anyone who can reach the port could pause or drain the job: beyond this machine, only with a token.
  if (!has_loopback_host("http://" + p.listen) && p.listen_token.empty())
    o.error("listen",
            fmt::format("{} is reachable from other machines: set listen_token_env or listen_token_file", p.listen));
}

}  // namespace

PipelineOptions read_pipeline_options(OptionReader& o, const std::filesystem::path& graph_file) {
  PipelineOptions p;
  p.name = o.has("name") ? o.string("name") : graph_file.stem().string();
  if (o.has("name") && !is_valid_name(p.name))  // it names files: "../x" would write outside the graph's folder
    o.error("name", "may use only letters, digits, '_' and '-', as node names do");
  if (p.name.empty()) p.name = "flowbatch";

  const std::int64_t max_in_flight = o.integer("max_in_flight");
  if (max_in_flight < 1) o.error("max_in_flight", "must be at least 1");
  else p.max_in_flight = static_cast<std::size_t>(max_in_flight);

  p.dead_letter = o.string("dead_letter");

  const std::int64_t grace = o.integer("shutdown_grace_ms");
  if (grace < 0) o.error("shutdown_grace_ms", "must not be negative");
  else p.shutdown_grace = std::chrono::milliseconds(grace);

  const std::string progress = o.string("progress");  // one of progress_modes(): the reader checked it
  if (progress == "tty") p.progress = ProgressMode::tty;
  else if (progress == "plain") p.progress = ProgressMode::plain;
  else if (progress == "off") p.progress = ProgressMode::off;
  else p.progress = ProgressMode::automatic;

  const std::int64_t interval = o.integer("progress_interval_ms");
  if (interval < 100) o.error("progress_interval_ms", "must be at least 100");
  else p.progress_interval = std::chrono::milliseconds(interval);

  // The state lives next to the graph, named after it, unless said otherwise.
  if (!o.has("state")) {
    const auto dir = graph_file.parent_path().empty() ? std::filesystem::path(".") : graph_file.parent_path();
    p.state = std::filesystem::absolute(dir / ".flowbatch" / (graph_file.stem().string() + ".db")).lexically_normal();
  } else if (o.string("state") != "none") {
    p.state = o.path("state");
  }

  // The cache lives beside the graph, shared by the graphs of its folder, unless said otherwise.
  if (!o.has("cache")) {
    const auto dir = graph_file.parent_path().empty() ? std::filesystem::path(".") : graph_file.parent_path();
    p.cache = std::filesystem::absolute(dir / ".flowbatch" / "cache.db").lexically_normal();
  } else if (o.string("cache") != "none") {
    p.cache = o.path("cache");
  }

  const std::int64_t threads = o.integer("threads");
  if (threads < 0 || threads > 1024) o.error("threads", "must be between 0 (chosen by the graph's providers) and 1024");
  else p.threads = static_cast<std::size_t>(threads);

  const std::int64_t io_threads = o.integer("io_threads");
  if (io_threads < 1 || io_threads > 64) o.error("io_threads", "must be between 1 and 64");
  else p.io_threads = static_cast<std::size_t>(io_threads);

  const std::int64_t blocking = o.integer("blocking_threads");
  if (blocking < 1 || blocking > 1024) o.error("blocking_threads", "must be between 1 and 1024");
  else p.blocking_threads = static_cast<std::size_t>(blocking);
  const std::int64_t response_mb = o.integer("response_memory_mb");
  if (response_mb < 1 || response_mb > (std::int64_t{1} << 20))
    o.error("response_memory_mb", "must be between 1 and 1048576");
  else p.response_memory = static_cast<std::size_t>(response_mb) << 20;

  p.max_cost_usd = o.number("max_cost_usd");
  if (p.max_cost_usd < 0) o.error("max_cost_usd", "must not be negative (0: no cap)");
  p.warn_cost_usd = o.number("warn_cost_usd");
  if (p.warn_cost_usd < 0) o.error("warn_cost_usd", "must not be negative (0: no warning)");
  if (o.has("window")) {
    std::string why;
    p.window = parse_run_window(o.string("window"), why);
    if (!p.window) o.error("window", why);
  }
  p.window_exit = o.boolean("window_exit");
  read_listen(o, p);
  if (o.has("report_html")) p.report_html = o.path("report_html");
  const std::int64_t report_every = o.integer("report_interval_ms");
  if (report_every < 100) o.error("report_interval_ms", "must be at least 100");
  else p.report_interval = std::chrono::milliseconds(report_every);

  if (const ConfigValue* list = o.table().find("plugins"); list && value_matches(*list, KeyKind::string_list)) {
    for (const ConfigValue& entry : list->items) {
      if (entry.text.empty()) o.error("plugins", "a plugin entry is empty");
      else
        p.plugins.push_back(
            PluginRef{entry.text, entry.base_dir.empty() ? list->base_dir : entry.base_dir, entry.where});
    }
  }
  return p;
}

namespace {

/// shared_limit and its companions; a URL's password is never quoted (the key names the problem).
SharedLimitSettings read_shared_limit(OptionReader& o) {
  SharedLimitSettings shared;
  const std::string where = o.string("shared_limit");
  const std::int64_t lease = o.integer("shared_limit_lease_ms");
  if (lease < 100) o.error("shared_limit_lease_ms", "must be at least 100");
  else shared.lease = std::chrono::milliseconds(lease);
  if (where.empty()) {
    if (o.has("shared_limit_key")) o.error("shared_limit_key", "needs shared_limit");
    return shared;
  }
  if (where.starts_with("local:")) {
    shared.store = SharedLimitSettings::Store::local;
    shared.key = where.substr(6);
    if (!FileQuotaStore::valid_name(shared.key))
      o.error("shared_limit", "local:NAME needs a NAME of letters, digits, '.', '_' and '-'");
    if (o.has("shared_limit_key"))
      o.error("shared_limit_key", "only for a redis:// shared_limit (local:NAME names it)");
    return shared;
  }
  std::string why;
  auto address = parse_redis_url(where, why);
  if (!address) {
    o.error("shared_limit", fmt::format("must be \"local:NAME\" or a redis:// URL: {}", why));
    return shared;
  }
  shared.store = SharedLimitSettings::Store::redis;
  shared.redis = std::move(*address);
  shared.key = o.has("shared_limit_key") ? o.string("shared_limit_key") : std::string(o.node_name());
  if (shared.key.empty()) o.error("shared_limit_key", "must not be empty");
  return shared;
}

/// batch_enqueued_tokens: { "model" = tokens, ... }.
std::map<std::string, std::int64_t, std::less<>> read_batch_enqueued_tokens(OptionReader& o) {
  std::map<std::string, std::int64_t, std::less<>> limits;
  if (!o.has("batch_enqueued_tokens")) return limits;
  const boost::json::value table = o.json("batch_enqueued_tokens");
  if (!table.is_object()) {
    o.error("batch_enqueued_tokens", "expected a table of models, e.g. { \"gpt-4o-mini\" = 2000000 }");
    return limits;
  }
  for (const auto& [model, tokens] : table.get_object()) {
    if (tokens.is_int64() && tokens.get_int64() >= 0) limits.emplace(std::string(model), tokens.get_int64());
    else
      o.error("batch_enqueued_tokens",
              fmt::format("\"{}\": must be a whole number of tokens, 0 or more", std::string(model)));
  }
  return limits;
}

}  // namespace

ProviderSettings read_provider_settings(OptionReader& o) {
  ProviderSettings s;
  RateSettings& r = s.rate;
  const boost::json::value concurrency = o.json("max_concurrency");
  const std::int64_t ceiling = o.integer("max_concurrency_limit");
  if (ceiling < 1 || ceiling > 100000) o.error("max_concurrency_limit", "must be between 1 and 100000");
  if (concurrency.is_null()) {  // absent: the key's default, which is a number
    r.concurrency_limit = static_cast<std::size_t>(o.integer("max_concurrency"));
  } else if (concurrency.is_string() && concurrency.get_string() == "adaptive") {
    r.adaptive = true;
    r.concurrency_limit = static_cast<std::size_t>(std::max<std::int64_t>(1, ceiling));
    const std::int64_t initial = o.integer("initial_concurrency");
    if (initial < 1) o.error("initial_concurrency", "must be at least 1");
    r.initial_concurrency = static_cast<std::size_t>(std::max<std::int64_t>(1, initial));
  } else if (concurrency.is_int64() && concurrency.get_int64() >= 1) {
    r.concurrency_limit = static_cast<std::size_t>(concurrency.get_int64());
  } else {
    o.error("max_concurrency", "must be a number of at least 1, or \"adaptive\"");
  }
  r.concurrency_ceiling = static_cast<std::size_t>(std::max<std::int64_t>(1, ceiling));
  r.requests_per_minute = o.number("requests_per_minute");
  if (r.requests_per_minute < 0) o.error("requests_per_minute", "must not be negative (0: no limit)");
  r.tokens_per_minute = o.number("tokens_per_minute");
  if (r.tokens_per_minute < 0) o.error("tokens_per_minute", "must not be negative (0: no limit)");
  r.shared = read_shared_limit(o);
  const std::int64_t timeout = o.integer("timeout_ms");
  if (timeout < 1) o.error("timeout_ms", "must be at least 1");
  else s.timeout = std::chrono::milliseconds(timeout);
  const std::int64_t connect = o.integer("connect_timeout_ms");
  if (connect < 1) o.error("connect_timeout_ms", "must be at least 1");
  else s.connect_timeout = std::chrono::milliseconds(connect);
  s.low_speed_limit = o.integer("low_speed_limit");
  if (s.low_speed_limit < 0) o.error("low_speed_limit", "must not be negative (0: no check)");
  const std::int64_t slow = o.integer("low_speed_time_ms");
  if (slow < 1) o.error("low_speed_time_ms", "must be at least 1");
  else s.low_speed_time = std::chrono::milliseconds(slow);
  s.batch_enqueued_tokens = read_batch_enqueued_tokens(o);
  if (o.has("ca_file")) {
    const std::filesystem::path ca = o.path("ca_file");
    if (o.check_environment())
      if (auto why = why_unreadable(ca)) o.error("ca_file", *why);
    s.ca_file = ca.string();
  }
  return s;
}

PriceList read_provider_prices(OptionReader& o, std::string_view shipped) {
  PriceList prices;
  if (!shipped.empty()) {
    boost::system::error_code ec;
    const boost::json::value doc = boost::json::parse(shipped, ec);
    const boost::json::value* models = doc.is_object() ? doc.get_object().if_contains("models") : nullptr;
    auto parsed = PriceList::parse(models ? *models : doc);
    if (ec) o.error("prices", "the provider type's own price table is not JSON: " + ec.message());
    else if (auto* problem = std::get_if<std::string>(&parsed)) o.error("prices", "the type's own prices: " + *problem);
    else prices = std::get<PriceList>(std::move(parsed));
  }
  if (o.has("prices")) {
    auto mine = PriceList::parse(o.json("prices"));
    if (auto* problem = std::get_if<std::string>(&mine)) o.error("prices", *problem);
    else prices.override_with(std::get<PriceList>(mine));
  }
  return prices;
}

}  // namespace flowbatch
