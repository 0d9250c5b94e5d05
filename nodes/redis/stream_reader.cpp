#include "nodes/redis/stream_reader.h"

#include <fmt/format.h>
#include <boost/json.hpp>

#include <algorithm>

namespace flowbatch {

void StreamEntries::hold(std::uint64_t line, const std::string& id) {
  const std::lock_guard lock(mutex_);
  by_line_.emplace(line, id);
  ids_.insert(id);
}

bool StreamEntries::holds(const std::string& id) const {
  const std::lock_guard lock(mutex_);
  return ids_.count(id) > 0;
}

std::vector<std::string> StreamEntries::held() const {
  const std::lock_guard lock(mutex_);
  return {ids_.begin(), ids_.end()};
}

void StreamEntries::acknowledge(const std::vector<std::uint64_t>& lines) {
  std::vector<std::string> command = {"XACK", settings_.stream, settings_.group};
  {
    const std::lock_guard lock(mutex_);
    for (std::uint64_t line : lines) {
      const auto it = by_line_.find(line);
      if (it == by_line_.end()) continue;
      ids_.erase(it->second);
      command.push_back(std::move(it->second));
      by_line_.erase(it);
    }
    for (auto& id : unacknowledged_) command.push_back(std::move(id));
    unacknowledged_.clear();
  }
  if (command.size() == 3) return;
  try {
    if (!connection_) connection_ = settings_.server.connect();
    check_reply(settings_.server, connection_->command(command), "XACK");
  } catch (const std::exception&) {
    // Not acknowledged yet: tried again with the next commit. Should this process die first, the
    // entries come back to another consumer, whose results overwrite these.
    const std::lock_guard lock(mutex_);
    unacknowledged_.insert(unacknowledged_.end(), command.begin() + 3, command.end());
  }
}

std::string stream_record(const std::string& id, long long deliveries, const RedisReply& field_values) {
  boost::json::object fields;
  for (std::size_t i = 0; i + 1 < field_values.size(); i += 2)
    fields[field_values.at(i).text()] = field_values.at(i + 1).text();
  return boost::json::serialize(
      boost::json::object{{"entry_id", id}, {"deliveries", deliveries}, {"fields", std::move(fields)}});
}

StreamReader::StreamReader(const StreamSettings& settings, std::shared_ptr<StreamEntries> entries)
    : settings_(settings), entries_(std::move(entries)), connection_(settings.server.connect()) {}

RedisReply StreamReader::run(const std::vector<std::string>& command, const char* name) {
  RedisReply reply = connection_->command(command);
  if (reply.is_error() && reply.text().starts_with("NOGROUP")) group_ready_ = false;  // the stream was deleted
  check_reply(settings_.server, reply, name);
  return reply;
}

bool StreamReader::read(std::vector<Record>& out, std::size_t max) {
  if (!group_ready_) create_group();
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_keep_) {
    keep_held_entries();
    next_keep_ = now + settings_.claim_idle / 3;
  }
  if (now >= next_claim_) {
    claim_abandoned(out, max);
    next_claim_ = now + settings_.claim_idle / 2;
  }
  try {
    if (out.size() < max) read_new(out, max - out.size());
  } catch (const std::exception&) {
    // Entries taken over just now are held by this consumer (and kept fresh): they must go on
    // now, or no one would ever do them. The failure is met again at the next read.
    if (out.empty()) throw;
  }
  return !(out.empty() && settings_.until_empty && nothing_pending());
}

/// A server that refuses it (an ACL without XINFO) only leaves the lag unknown.
std::optional<SourceLag> StreamReader::lag() {
  const RedisReply groups = connection_->command({"XINFO", "GROUPS", settings_.stream});
  return groups.is_error() ? std::nullopt : stream_group_lag(groups, settings_.group);
}

std::optional<SourceLag> stream_group_lag(const RedisReply& groups, const std::string& group) {
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const RedisReply info = groups.at(g);  // [name, <group>, consumers, n, pending, n, ..., lag, n]
    std::optional<std::string> name;
    std::optional<long long> pending, lag;
    for (std::size_t i = 0; i + 1 < info.size(); i += 2) {
      const std::string key = info.at(i).text();
      const RedisReply value = info.at(i + 1);
      if (key == "name") name = value.text();
      else if (key == "pending") pending = value.integer();
      else if (key == "lag" && !value.is_nil()) lag = value.integer();
    }
    if (name != group) continue;
    if (!lag || *lag < 0) return std::nullopt;
    return SourceLag{static_cast<std::uint64_t>(*lag), "entries",
                     static_cast<std::uint64_t>(std::max<long long>(0, pending.value_or(0))), "pending"};
  }
  return std::nullopt;
}

void StreamReader::create_group() {
  const RedisReply reply =
      connection_->command({"XGROUP", "CREATE", settings_.stream, settings_.group, settings_.start_id, "MKSTREAM"});
  if (!reply.is_error() || reply.text().starts_with("BUSYGROUP")) group_ready_ = true;
  else check_reply(settings_.server, reply, "XGROUP CREATE");
}

/// Entries this consumer is still working on are claimed again by itself (JUSTID: their delivery
/// count stays), which resets their idle time: a slow call is not taken over by another worker.
void StreamReader::keep_held_entries() {
  std::vector<std::string> ids = entries_->held();
  if (ids.empty()) return;
  std::vector<std::string> command = {"XCLAIM", settings_.stream, settings_.group, settings_.consumer, "0"};
  command.insert(command.end(), ids.begin(), ids.end());
  command.push_back("JUSTID");
  run(command, "XCLAIM");
}

/// Entries idle longer than claim_idle_ms on another consumer (one that died) are taken over.
/// XCLAIM counts one more delivery; the reader passes the count on, and decode() sends an entry
/// delivered too often to the dead letter.
void StreamReader::claim_abandoned(std::vector<Record>& out, std::size_t max) {
  const std::string idle = std::to_string(settings_.claim_idle.count());
  const RedisReply pending =
      run({"XPENDING", settings_.stream, settings_.group, "IDLE", idle, "-", "+", std::to_string(max)}, "XPENDING");
  std::vector<std::string> command = {"XCLAIM", settings_.stream, settings_.group, settings_.consumer, idle};
  std::unordered_map<std::string, long long> deliveries;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const RedisReply entry = pending.at(i);  // [id, consumer, idle ms, deliveries]
    const std::string id = entry.at(0).text();
    if (entries_->holds(id)) continue;
    deliveries[id] = entry.at(3).integer() + 1;
    command.push_back(id);
  }
  if (command.size() == 5) return;
  add_entries(run(command, "XCLAIM"), deliveries, out);
}

void StreamReader::read_new(std::vector<Record>& out, std::size_t max) {
  const RedisReply reply = run({"XREADGROUP", "GROUP", settings_.group, settings_.consumer, "COUNT",
                                std::to_string(max), "STREAMS", settings_.stream, ">"},
                               "XREADGROUP");
  if (reply.size() == 0) return;
  add_entries(reply.at(0).at(1), {}, out);  // [[stream, entries]]
}

bool StreamReader::nothing_pending() {
  const RedisReply summary = run({"XPENDING", settings_.stream, settings_.group}, "XPENDING");
  return summary.size() > 0 && summary.at(0).integer() == 0;
}

void StreamReader::add_entries(const RedisReply& entries, const std::unordered_map<std::string, long long>& deliveries,
                               std::vector<Record>& out) {
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const RedisReply entry = entries.at(i);  // [id, [field, value, ...]]; nil when deleted meanwhile
    if (!entry.is_array() || entry.size() < 2) continue;
    const std::string id = entry.at(0).text();
    const auto d = deliveries.find(id);
    const std::uint64_t line = next_line_++;
    entries_->hold(line, id);
    out.push_back(Record{line, stream_record(id, d == deliveries.end() ? 1 : d->second, entry.at(1))});
  }
}

}  // namespace flowbatch
