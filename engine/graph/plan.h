#pragma once
// A compiled graph: every option typed and checked, every edge resolved. The runner builds a
// tbb::flow graph from it; `flowbatch graph` prints it. No TOML and no TBB types in here.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/diagnostics.h"
#include "engine/core/run_window.h"
#include "engine/cost/price.h"
#include "engine/graph/alert_options.h"
#include "engine/graph/node_kind.h"
#include "engine/graph/notify_options.h"
#include "engine/ratelimit/rate_settings.h"
#include "flowbatch/provider.h"

namespace flowbatch {

enum class ProgressMode : std::uint8_t { automatic, tty, plain, off };

/// The [pipeline] table.
/// One entry of `[pipeline] plugins`: a shared library's path (relative to the graph's folder) or
/// a bare name looked up in the plugin folders.
struct PluginRef {
  std::string spec;                ///< as written: "plugins/libredact.so" or "redact_pii"
  std::filesystem::path base_dir;  ///< the folder relative paths resolve against
  Location where;                  ///< the entry in the TOML file, for errors
};

struct PipelineOptions {
  std::string name;                                 ///< default: the graph file's name without .toml
  std::size_t max_in_flight = 10000;                ///< items admitted but not yet at a sink or dead letter
  std::string dead_letter;                          ///< the dead letter that unconnected error ports feed
  std::chrono::milliseconds shutdown_grace{30000};  ///< Ctrl-C: how long in-flight items may finish
  ProgressMode progress = ProgressMode::automatic;
  std::chrono::milliseconds progress_interval{10000};  ///< period of plain progress lines
  std::size_t io_threads = 1;   ///< threads running the libcurl multi loop (timers run on the first)
  std::size_t threads = 0;      ///< threads running the flow graph's tasks (0: one per core)
  std::filesystem::path state;  ///< the run's state (resume, cache); empty: none
  Location state_where;         ///< where `state` is set (the [pipeline] table when it is not)
  std::filesystem::path cache;  ///< the lasting response cache (calls with cache = true); empty: none
  Location cache_where;
  std::vector<PluginRef> plugins;    ///< shared libraries that add node types, loaded before nodes are read
  std::size_t blocking_threads = 8;  ///< threads for providers whose requests block (Dispatch::run)
  std::size_t response_memory = std::size_t{1} << 30;  ///< bytes all HTTP answers being received may take
  double max_cost_usd = 0;                             ///< the cost cap, earlier runs of the state included (0: none)
  double warn_cost_usd = 0;                            ///< say so once when spending passes this (0: never)
  std::optional<RunWindow> window;                     ///< requests start only inside it; nothing: at any time
  bool window_exit = false;  ///< outside the window: stop resumably (exit 75) instead of waiting
  std::string listen;        ///< "host:port" of the run's HTTP endpoint (metrics, status, control); empty: none
  std::string listen_token;  ///< what control requests must bear (Authorization: Bearer); a secret, redacted
  std::filesystem::path report_html;                 ///< the HTML run report; empty: none
  std::chrono::milliseconds report_interval{10000};  ///< how often it is rewritten while the run goes
};

/// Provider keys that the engine itself enforces, whatever the provider type.
struct ProviderSettings {
  RateSettings rate;                         ///< concurrency (fixed or adaptive), requests and tokens per minute
  std::chrono::milliseconds timeout{60000};  ///< one attempt, from start to last byte
  std::chrono::milliseconds connect_timeout{10000};  ///< connecting (and TLS) within an attempt
  std::string ca_file;  ///< PEM certificates to trust for TLS instead of the system's; empty: the system's
  std::int64_t low_speed_limit = 16;  ///< bytes/s below which an arriving answer is too slow (0: no check)
  std::chrono::milliseconds low_speed_time{30000};  ///< ... for this long
  /// batch_enqueued_tokens: per model (engine/core/model_table.h), the most estimated prompt
  /// tokens this run keeps in the provider's batch queue at once (0 or none: no limit)
  std::map<std::string, std::int64_t, std::less<>> batch_enqueued_tokens;
};

struct PlanProvider {
  std::string name;
  std::string type;
  Location where;
  std::shared_ptr<Provider> provider;
  ProviderSettings settings;
  PriceList prices;     ///< [providers.X.prices] over the prices its type ships
  bool remote = false;  ///< its type's: requests go over the network (ProviderType::remote)
};

/// A file a node reads or writes, named by one of its path keys. The compiler refuses a graph in
/// which two nodes write one file, or a node writes a file that another reads.
struct FileUse {
  std::filesystem::path path;
  std::string key;      ///< the path key, e.g. "path"
  Location where;       ///< where the key's value is written
  bool writes = false;  ///< sinks and dead letters write their files; every other node reads
};

struct PlanNode {
  std::string name;
  const NodeKind* kind = nullptr;
  std::string type;  ///< typed kinds: the selected type
  std::unique_ptr<NodeConfig> config;
  Location where;
  bool implicit = false;       ///< added by the compiler (the default dead letter)
  std::vector<FileUse> files;  ///< the files its path keys name
};

struct PlanEdge {
  std::size_t from = 0;   ///< producing node
  std::size_t port = 0;   ///< index into the producer's kind->outputs
  std::size_t to = 0;     ///< consuming node
  bool implicit = false;  ///< added by the compiler (an unconnected error port's route)
};

struct Plan {
  std::filesystem::path graph_file;
  /// What the results depend on (engine/graph/fingerprints.h): a run compares them with its state's.
  std::map<std::string, std::string> fingerprints;
  PipelineOptions pipeline;
  std::vector<PlanProvider> providers;
  std::vector<NotifyRule> notify;  ///< [notify.NAME]
  std::vector<AlertRule> alerts;   ///< [alerts.NAME]
  std::vector<PlanNode> nodes;
  std::vector<PlanEdge> edges;

  /// "classify.error", or "classify" for a default port.
  std::string port_name(std::size_t node, std::size_t port) const;
  std::vector<const PlanEdge*> inputs_of(std::size_t node) const;
  std::vector<const PlanEdge*> outputs_of(std::size_t node, std::size_t port) const;
};

}  // namespace flowbatch
