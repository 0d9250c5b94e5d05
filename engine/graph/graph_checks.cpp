#include "engine/graph/graph_checks.h"

#include <fmt/format.h>

#include <sys/stat.h>
#include <algorithm>
#include <map>
#include <set>

#include "engine/config/option_reader.h"
#include "engine/core/paths.h"
#include "engine/core/text.h"

namespace flowbatch {

void GraphChecks::check_sources_exist() {
  const bool has_source =
      std::any_of(plan.nodes.begin(), plan.nodes.end(), [](const PlanNode& n) { return n.kind->accepts.empty(); });
  if (!has_source && !plan.nodes.empty())
    diagnostics.error(Location{plan.graph_file.string(), 0, 0}, "",
                      "the graph has no source; add a [sources.NAME] table");
}

std::optional<std::size_t> GraphChecks::default_dead_letter(const std::optional<Location>& dead_letter_key) {
  const NodeKind* kind = registry.kind_for_table("dead_letters");
  if (!kind) return std::nullopt;
  std::vector<std::size_t> candidates;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < plan.nodes.size(); ++i) {
    if (plan.nodes[i].kind == kind) {
      candidates.push_back(i);
      names.push_back(plan.nodes[i].name);
    }
  }
  const std::string& wanted = plan.pipeline.dead_letter;
  if (!wanted.empty()) {
    for (std::size_t i : candidates)
      if (plan.nodes[i].name == wanted) return i;
    diagnostics.error(dead_letter_key.value_or(Location{plan.graph_file.string(), 0, 0}), "pipeline.dead_letter",
                      fmt::format("no [dead_letters.{}] node{}", wanted, did_you_mean(wanted, names)));
    return std::nullopt;
  }
  if (candidates.size() == 1) return candidates.front();

  // No (single) dead letter to use: add one, so failed items still land somewhere visible.
  ConfigValue table;
  table.where = Location{plan.graph_file.string(), 0, 0};
  table.base_dir = plan.graph_file.parent_path().empty() ? std::filesystem::path(".") : plan.graph_file.parent_path();
  ConfigValue path;
  path.kind = ConfigValue::Kind::string;
  path.text = "out/" + plan.pipeline.name + ".dead_letter.jsonl";
  path.where = table.where;
  path.base_dir = table.base_dir;
  table.set("path", path, table.where);

  std::string name = "default_dead_letter";
  while (std::any_of(plan.nodes.begin(), plan.nodes.end(), [&](const PlanNode& n) { return n.name == name; }))
    name += "_";
  OptionReader reader(table, "dead_letters." + name, name, kind->keys,
                      {diagnostics, redactor, check_environment, outputs_under});
  static const std::string kNoType;
  static const std::filesystem::path kNoReplay;
  ParseContext context{reader, kNoType, registry, plan.providers, plan.pipeline, kNoReplay, 0};
  PlanNode node;
  node.name = name;
  node.kind = kind;
  node.config = kind->parse(context);
  node.where = table.where;
  node.implicit = true;
  node.files = file_uses(reader, *kind);
  if (!node.config) return std::nullopt;
  plan.nodes.push_back(std::move(node));
  return plan.nodes.size() - 1;
}

void GraphChecks::route_unconnected_ports(const std::optional<Location>& dead_letter_key) {
  std::optional<std::size_t> dead_letter;
  bool looked_up = false;
  if (!plan.pipeline.dead_letter.empty()) {  // a name given is checked even if nothing needs it
    dead_letter = default_dead_letter(dead_letter_key);
    looked_up = true;
  }
  const std::size_t node_count = plan.nodes.size();         // the default dead letter may be appended
  std::set<std::pair<std::size_t, std::size_t>> connected;  // (node, port); a scan per port was quadratic
  for (const auto& e : plan.edges) connected.emplace(e.from, e.port);
  for (std::size_t n = 0; n < node_count; ++n) {
    // By index, not by reference: finding the default dead letter may append to plan.nodes.
    for (std::size_t p = 0; p < plan.nodes[n].kind->outputs.size(); ++p) {
      if (connected.count({n, p})) continue;
      const PortKind kind = plan.nodes[n].kind->outputs[p].kind;
      const std::string port = plan.port_name(n, p);
      const std::string subject = plan.nodes[n].kind->table + "." + plan.nodes[n].name;
      const Location where = plan.nodes[n].where;
      if (kind == PortKind::items) {
        diagnostics.warning(where, subject,
                            fmt::format("output \"{}\" is connected to nothing; its items are discarded (and counted "
                                        "in the summary)",
                                        port));
        continue;
      }
      if (!looked_up) {
        dead_letter = default_dead_letter(dead_letter_key);
        looked_up = true;
      }
      if (!dead_letter) continue;
      if (*dead_letter == n) continue;  // never route a node into itself
      plan.edges.push_back(PlanEdge{n, p, *dead_letter, true});
      const PlanNode& target = plan.nodes[*dead_letter];
      diagnostics.warning(
          where, subject,
          fmt::format("\"{}\" is connected to nothing; its {} go to the default dead letter \"{}\"{}", port,
                      to_string(kind), target.name, target.implicit ? " (" + target.config->label() + ")" : ""));
    }
  }
}

void GraphChecks::check_cycles() {
  const std::size_t n = plan.nodes.size();
  std::vector<std::vector<std::size_t>> next(n);
  for (const auto& e : plan.edges) {
    if (plan.nodes[e.from].kind->breaks_cycles) continue;  // a retry's way back is the allowed loop
    next[e.from].push_back(e.to);
  }
  enum class Mark { fresh, open, done };
  std::vector<Mark> mark(n, Mark::fresh);
  std::set<std::set<std::size_t>> reported;
  // Depth-first, with an explicit stack: recursion overflowed the call stack on a chain of some
  // 20,000 nodes. `path` holds the open nodes, root first, each with its next edge to follow.
  struct Step {
    std::size_t node;
    std::size_t next_edge = 0;
  };
  std::vector<Step> path;

  auto report_cycle = [&](std::size_t w) {  // w is open: path from w to the top is a cycle
    const auto from = std::find_if(path.begin(), path.end(), [&](const Step& s) { return s.node == w; });
    std::set<std::size_t> members;
    std::vector<std::string> names;
    for (auto it = from; it != path.end(); ++it) {
      members.insert(it->node);
      names.push_back(plan.nodes[it->node].name);
    }
    if (!reported.insert(members).second) return;
    names.push_back(plan.nodes[w].name);
    const PlanNode& at = plan.nodes[w];
    diagnostics.error(at.where, at.kind->table + "." + at.name,
                      fmt::format("cycle {} does not pass through a retry node; loops are only allowed "
                                  "through [retries]",
                                  join(names, " -> ")));
  };

  for (std::size_t root = 0; root < n; ++root) {
    if (mark[root] != Mark::fresh) continue;
    mark[root] = Mark::open;
    path.push_back({root});
    while (!path.empty()) {
      Step& top = path.back();
      if (top.next_edge == next[top.node].size()) {
        mark[top.node] = Mark::done;
        path.pop_back();
        continue;
      }
      const std::size_t w = next[top.node][top.next_edge++];
      if (mark[w] == Mark::open) {
        report_cycle(w);
      } else if (mark[w] == Mark::fresh) {
        mark[w] = Mark::open;
        path.push_back({w});  // `top` is not used after this: push_back may move it
      }
    }
  }
}

}  // namespace flowbatch

namespace flowbatch {

std::vector<FileUse> file_uses(const OptionReader& options, const NodeKind& kind) {
  std::vector<FileUse> files;
  for (const auto& use : options.paths_used()) files.push_back(FileUse{use.path, use.key, use.where, kind.terminal});
  return files;
}

namespace {

/// What makes two paths the same file: the resolved path (symlinks and "..", even for a file that
/// does not exist yet), or the same inode (hard links, bind mounts).
struct FileIdentity {
  std::string resolved;
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;

  explicit FileIdentity(const std::filesystem::path& path) {
    std::error_code ec;
    const auto canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
    resolved = (ec ? path.lexically_normal() : canonical).string();
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      exists = true;
      device = st.st_dev;
      inode = st.st_ino;
    }
  }
  bool same(const FileIdentity& other) const {
    return resolved == other.resolved || (exists && other.exists && device == other.device && inode == other.inode);
  }
};

struct NamedFile {
  FileUse use;
  std::string owner;    ///< "sink \"results\"", "the run's state"
  std::string subject;  ///< "sinks.results.path"
  FileIdentity identity;
  bool state = false;  ///< one of the state's own files
};

}  // namespace

void GraphChecks::check_file_conflicts(const std::filesystem::path& replay_from) {
  std::vector<NamedFile> files;
  for (const PlanNode& node : plan.nodes) {
    for (const FileUse& use : node.files)
      files.push_back(NamedFile{use, fmt::format("{} \"{}\"", node.kind->name, node.name),
                                node.kind->table + "." + node.name + "." + use.key, FileIdentity(use.path)});
  }
  if (!plan.pipeline.state.empty()) {
    // SQLite writes the state and two files beside it.
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::filesystem::path p = plan.pipeline.state.string() + suffix;
      files.push_back(NamedFile{FileUse{p, "state", plan.pipeline.state_where, true}, "the run's state",
                                "pipeline.state", FileIdentity(p), true});
    }
  }
  if (!plan.pipeline.cache.empty()) {  // the same for the response cache (shared by graphs: never written over)
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::filesystem::path p = plan.pipeline.cache.string() + suffix;
      files.push_back(NamedFile{FileUse{p, "cache", plan.pipeline.cache_where, true}, "the response cache",
                                "pipeline.cache", FileIdentity(p), true});
    }
  }
  const Location nowhere{plan.graph_file.string(), 0, 0};
  files.push_back(
      NamedFile{FileUse{plan.graph_file, "", nowhere, false}, "the graph file", "", FileIdentity(plan.graph_file)});
  if (!replay_from.empty())
    files.push_back(
        NamedFile{FileUse{replay_from, "", nowhere, false}, "the replayed file", "", FileIdentity(replay_from)});

  for (std::size_t i = 0; i < files.size(); ++i) {
    for (std::size_t j = 0; j < files.size(); ++j) {
      const NamedFile& writer = files[i];
      const NamedFile& other = files[j];
      if (i == j || !writer.use.writes) continue;
      if (other.use.writes && j < i) continue;  // a pair of writers is reported once
      if (writer.state && other.state) continue;
      if (!writer.identity.same(other.identity)) continue;
      const std::string what = other.use.writes ? "also writes it" : "reads it";
      const std::string where =
          other.subject.empty() ? "" : fmt::format(" ({} at {})", other.subject, other.use.where.str());
      diagnostics.error(writer.use.where, writer.subject,
                        fmt::format("{} writes {}, and {} {}{}; every output needs a file of its own, and nothing may "
                                    "overwrite an input",
                                    writer.owner, display_path(writer.use.path), other.owner, what, where));
    }
  }
}

void GraphChecks::check_no_linked_outputs() {
  const auto refuse_link = [&](const std::filesystem::path& path, const Location& where, const std::string& subject) {
    std::error_code ec;
    if (!std::filesystem::is_symlink(path, ec)) return;
    diagnostics.error(where, subject,
                      fmt::format("{} is a symbolic link; flowbatch does not write through links (name the file it "
                                  "points to, or remove the link)",
                                  display_path(path)));
  };
  for (const PlanNode& node : plan.nodes)
    for (const FileUse& use : node.files)
      if (use.writes) refuse_link(use.path, use.where, node.kind->table + "." + node.name + "." + use.key);
  if (!plan.pipeline.state.empty()) refuse_link(plan.pipeline.state, plan.pipeline.state_where, "pipeline.state");
  if (!plan.pipeline.cache.empty()) refuse_link(plan.pipeline.cache, plan.pipeline.cache_where, "pipeline.cache");
}

namespace {

constexpr std::size_t kSampledRecords = 20;

/// Every node whose items can reach `node`, following edges backwards.
std::vector<std::size_t> upstream_of(const Plan& plan, std::size_t node) {
  std::vector<bool> seen(plan.nodes.size(), false);
  std::vector<std::size_t> stack = {node}, out;
  while (!stack.empty()) {
    const std::size_t n = stack.back();
    stack.pop_back();
    for (const PlanEdge* e : plan.inputs_of(n)) {
      if (seen[e->from]) continue;
      seen[e->from] = true;
      out.push_back(e->from);
      stack.push_back(e->from);
    }
  }
  return out;
}

std::string top_level(const std::string& field) { return field.substr(0, field.find('.')); }

}  // namespace

void GraphChecks::check_template_fields() {
  if (!check_environment) return;
  std::map<std::size_t, std::vector<boost::json::object>> samples;  // per source node, read once
  for (std::size_t n = 0; n < plan.nodes.size(); ++n) {
    const PlanNode& node = plan.nodes[n];
    if (!node.config) continue;
    const std::vector<FieldRead> reads = node.config->fields_read();
    if (reads.empty()) continue;
    std::set<std::string> added;
    std::vector<std::size_t> sources;
    bool open_ended = false;  // something upstream may add any field: nothing can be said
    for (std::size_t up : upstream_of(plan, n)) {
      const PlanNode& u = plan.nodes[up];
      if (!u.config) continue;
      const auto fields = u.config->fields_added();
      if (!fields) open_ended = true;
      else added.insert(fields->begin(), fields->end());
      if (u.kind->accepts.empty()) sources.push_back(up);
    }
    if (open_ended) continue;
    for (const FieldRead& read : reads) {
      const std::string field = top_level(read.field);
      if (added.count(field)) continue;
      for (std::size_t s : sources) {
        auto [it, fresh] = samples.try_emplace(s);
        if (fresh) it->second = plan.nodes[s].config->sample_records(kSampledRecords);
        const auto& records = it->second;
        const auto lacking = std::count_if(records.begin(), records.end(),
                                           [&](const boost::json::object& r) { return !r.contains(field); });
        if (lacking == 0) continue;
        std::vector<std::string> has;
        for (const auto& kv : records.front()) has.emplace_back(kv.key());
        diagnostics.warning(
            read.where, node.kind->table + "." + node.name + "." + read.key,
            fmt::format("names {{{{{}}}}}, which {} of the first {} records of source \"{}\" lack{}{}; "
                        "such items fail as invalid_input instead of being sent",
                        read.field, lacking, records.size(), plan.nodes[s].name, did_you_mean(field, has),
                        has.empty() ? "" : " (fields: " + join(has, ", ") + ")"));
      }
    }
  }
}

}  // namespace flowbatch
