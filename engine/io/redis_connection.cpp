#include "engine/io/redis_connection.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace flowbatch {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

bool parse_int(std::string_view text, int& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

/// user:password, user, or :password (the password alone, Redis before 6).
void parse_userinfo(std::string_view info, RedisAddress& a) {
  const auto colon = info.find(':');
  if (colon == std::string_view::npos) {
    a.user = info;
    return;
  }
  a.user = info.substr(0, colon);
  a.password = info.substr(colon + 1);
}

}  // namespace

std::string RedisAddress::describe() const { return fmt::format("redis://{}:{}/{}", host, port, db); }

std::optional<RedisAddress> parse_redis_url(std::string_view url, std::string& why) {
  if (url.starts_with("rediss://")) {
    why = "rediss:// (TLS) needs hiredis 1.0 or later; this build has an older hiredis (use a TLS tunnel)";
    return std::nullopt;
  }
  if (!url.starts_with("redis://")) {
    why = "must be a redis://[user[:password]@]host[:port][/db] URL";
    return std::nullopt;
  }
  RedisAddress a;
  std::string_view rest = url.substr(8);
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos && slash + 1 < rest.size() && !parse_int(rest.substr(slash + 1), a.db)) {
    why = "the database after the host must be a number";
    return std::nullopt;
  }
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    parse_userinfo(authority.substr(0, at), a);
    authority = authority.substr(at + 1);
  }
  const auto colon = authority.rfind(':');
  a.host = authority.substr(0, colon);
  if (colon != std::string_view::npos && !parse_int(authority.substr(colon + 1), a.port)) {
    why = "the port must be a number";
    return std::nullopt;
  }
  if (a.host.empty()) {
    why = "names no host";
    return std::nullopt;
  }
  return a;
}

RedisReply::RedisReply(redisReply* reply)
    : reply_(reply, [](redisReply* r) {
        if (r) freeReplyObject(r);
      }) {}

bool RedisReply::is_error() const { return reply_ && reply_->type == REDIS_REPLY_ERROR; }
bool RedisReply::is_array() const { return reply_ && reply_->type == REDIS_REPLY_ARRAY; }
std::size_t RedisReply::size() const { return is_array() ? reply_->elements : 0; }
RedisReply RedisReply::at(std::size_t i) const { return RedisReply(reply_, reply_->element[i]); }
bool RedisReply::is_nil() const { return !reply_ || reply_->type == REDIS_REPLY_NIL; }
std::string RedisReply::text() const {
  if (!reply_ || !reply_->str) return {};
  return std::string(reply_->str, reply_->len);
}
long long RedisReply::integer() const { return reply_ && reply_->type == REDIS_REPLY_INTEGER ? reply_->integer : 0; }

RedisConnection::RedisConnection(RedisAddress address, std::chrono::milliseconds timeout)
    : address_(std::move(address)), timeout_(timeout) {}

RedisConnection::~RedisConnection() {
  if (context_) redisFree(context_);
}

void RedisConnection::lost(const std::string& what) {
  if (context_) redisFree(context_);
  context_ = nullptr;
  pacing_.failed();
  throw std::runtime_error(fmt::format("{}: {}", address_.describe(), what));
}

void RedisConnection::connect() {
  context_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, to_timeval(timeout_));
  if (!context_) lost("cannot allocate a connection");
  if (context_->err) lost(fmt::format("cannot connect: {}", context_->errstr));
  redisSetTimeout(context_, to_timeval(timeout_));
  const auto check = [&](const RedisReply& r, const char* what) {
    if (r.is_nil() && context_->err) lost(fmt::format("{}: {}", what, context_->errstr));
    if (r.is_error()) lost(fmt::format("{} refused: {}", what, r.text()));
  };
  if (!address_.password.empty() || !address_.user.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!address_.user.empty()) auth.push_back(address_.user);
    auth.push_back(address_.password);
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : auth) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    check(RedisReply(static_cast<redisReply*>(
              redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lens.data()))),
          "AUTH");
  }
  if (address_.db != 0) {
    const std::string db = std::to_string(address_.db);
    const char* argv[] = {"SELECT", db.c_str()};
    const size_t lens[] = {6, db.size()};
    check(RedisReply(static_cast<redisReply*>(redisCommandArgv(context_, 2, argv, lens))), "SELECT");
  }
}

void RedisConnection::ensure_connected() {
  if (context_) return;
  if (!pacing_.may_try())
    throw std::runtime_error(fmt::format("{}: not connected (reconnecting)", address_.describe()));
  connect();
  pacing_.connected();
}

RedisReply RedisConnection::command(const std::vector<std::string>& args) {
  auto replies = pipeline({args});
  return replies.front();
}

std::vector<RedisReply> RedisConnection::pipeline(const std::vector<std::vector<std::string>>& commands) {
  const bool was_connected = context_ != nullptr;
  try {
    return exchange(commands);
  } catch (const std::runtime_error&) {
    if (!was_connected) throw;
    // A connection that went stale while idle (the server restarted): one fresh try at once.
    // Sending again is safe for the commands used here: they are idempotent (HSET, XACK, XCLAIM),
    // or at worst append once more (XADD), or leave entries pending to be claimed (XREADGROUP).
    pacing_.try_now();
    return exchange(commands);
  }
}

std::vector<RedisReply> RedisConnection::exchange(const std::vector<std::vector<std::string>>& commands) {
  ensure_connected();
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& args : commands) {
    argv.clear();
    lens.clear();
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK)
      lost(fmt::format("cannot send: {}", context_->errstr));
  }
  std::vector<RedisReply> replies;
  replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(context_, &reply) != REDIS_OK) lost(fmt::format("connection lost: {}", context_->errstr));
    replies.emplace_back(static_cast<redisReply*>(reply));
  }
  return replies;
}

}  // namespace flowbatch
