#pragma once
// A Redis connection driven by hiredis's async API on the engine's I/O loop.
//
// Why not the blocking RedisConnection: its users (sources, sinks) run on threads of their own
// that may wait for a reply. The shared rate limiter lives on the I/O loop itself, where a blocked
// round trip would stall every transfer; here a command only queues bytes, and its reply comes
// back as a callback in a later pass of the loop.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/core/backoff.h"
#include "engine/io/event_loop.h"
#include "engine/io/redis_connection.h"

struct redisAsyncContext;

namespace flowbatch {

/// A reply copied out of hiredis (which frees its own when the callback returns).
struct RedisValue {
  enum class Kind { nil, integer, text, error, array };
  Kind kind = Kind::nil;
  long long integer = 0;
  std::string text;  ///< a string, status or error reply's text
  std::vector<RedisValue> elements;

  bool is_error() const { return kind == Kind::error; }
  static RedisValue failure(std::string why) { return RedisValue{Kind::error, 0, std::move(why), {}}; }
};

/// Loop thread only (construction and destruction excepted: before start() or after stop()).
/// Connects at the first command, and again after a failure, no sooner than ReconnectPacing allows.
/// A command unanswered after `timeout` drops the connection: every command under way is then
/// answered with an error reply naming the server (never its password), as is one sent while
/// reconnecting is not yet allowed.
class RedisAsync {
 public:
  using Done = std::function<void(const RedisValue& reply)>;

  RedisAsync(EventLoop& loop, RedisAddress address, std::chrono::milliseconds timeout);
  ~RedisAsync();
  RedisAsync(const RedisAsync&) = delete;
  RedisAsync& operator=(const RedisAsync&) = delete;

  void command(const std::vector<std::string>& args, Done done);
  const RedisAddress& address() const { return address_; }

 private:
  struct Pending;
  static void on_reply(redisAsyncContext* context, void* reply, void* pending);
  static void on_connected(const redisAsyncContext* context, int status);
  static void on_disconnected(const redisAsyncContext* context, int status);
  bool ensure_connected(std::string& why);
  void attach();
  void send(const std::vector<std::string>& args, Done done);
  void drop();
  void update_interest();
  void arm_deadline(std::uint64_t sequence);

  EventLoop& loop_;
  RedisAddress address_;
  std::chrono::milliseconds timeout_;
  redisAsyncContext* context_ = nullptr;
  ReconnectPacing pacing_;
  int fd_ = -1;
  bool reading_ = false;
  bool writing_ = false;
  std::uint64_t sent_ = 0;      // commands sent on this object, ever
  std::uint64_t answered_ = 0;  // of those, answered (in order: one connection answers in order)
  bool closing_ = false;        // the destructor runs: replies are dropped, not delivered
};

}  // namespace flowbatch
