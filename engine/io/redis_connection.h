#pragma once
// A blocking Redis connection (hiredis), for the Redis source and sinks.
//
// Why blocking, not hiredis's async API on the I/O loop: every command sent here returns at once
// on the server's side (no BLOCK, no WAIT), so a call costs one round trip, like the local-disk
// reads and writes the file sources and sinks do on the same threads (a source's reader, a sink's
// writer, the commit thread). Waiting for entries that have not arrived yet is a timer on the
// engine's I/O loop (a followed source polls), never a thread parked on a socket.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/backoff.h"

struct redisContext;
struct redisReply;

namespace flowbatch {

/// Where a Redis server is: redis://[user[:password]@]host[:port][/db].
struct RedisAddress {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;
  std::string password;
  /// "redis://host:port/db": never the user or the password.
  std::string describe() const;
};

/// Parses a redis:// URL; nothing, with the reason in `why`, when it is not one. The reason never
/// quotes the URL (it may hold a password).
std::optional<RedisAddress> parse_redis_url(std::string_view url, std::string& why);

/// One reply (or a part of one), freed with the last copy of its whole.
class RedisReply {
 public:
  explicit RedisReply(redisReply* reply = nullptr);
  bool is_error() const;
  bool is_array() const;
  std::size_t size() const;            ///< an array's elements (0 otherwise)
  RedisReply at(std::size_t i) const;  ///< an array's element
  bool is_nil() const;
  std::string text() const;  ///< a string, status or error reply's text ("" otherwise)
  long long integer() const;

 private:
  RedisReply(std::shared_ptr<redisReply> whole, redisReply* part) : reply_(std::move(whole), part) {}
  std::shared_ptr<redisReply> reply_;
};

/// Reconnects on the next command after a failure, waiting longer each time (up to a few seconds)
/// so a server that is down is not hammered; a connection found dead at its first use after a
/// pause is replaced at once, and the commands sent again. Not thread-safe: one connection per thread of use.
/// Errors throw std::runtime_error naming the server (never its password).
class RedisConnection {
 public:
  RedisConnection(RedisAddress address, std::chrono::milliseconds timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  /// Runs one command; an error reply is returned, not thrown.
  RedisReply command(const std::vector<std::string>& args);
  /// Sends several commands in one round trip; their replies in order.
  std::vector<RedisReply> pipeline(const std::vector<std::vector<std::string>>& commands);
  const RedisAddress& address() const { return address_; }

 private:
  std::vector<RedisReply> exchange(const std::vector<std::vector<std::string>>& commands);
  void connect();
  void ensure_connected();
  [[noreturn]] void lost(const std::string& what);

  RedisAddress address_;
  std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
  ReconnectPacing pacing_;
};

}  // namespace flowbatch
