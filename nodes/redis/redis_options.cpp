#include "nodes/redis/redis_options.h"

#include <fmt/format.h>

#include <stdexcept>

namespace flowbatch {

std::vector<KeySpec> redis_server_keys() {
  return {
      {"url", KeyKind::string, true, "",
       "the server: redis://[user[:password]@]host[:port][/db]; write a password as ${ENV} (it is never printed)"},
      {"timeout_ms", KeyKind::integer, false, "5000", "how long to wait to connect, and for one reply"},
  };
}

std::optional<RedisServer> read_redis_server(Options& o) {
  std::string why;
  auto address = parse_redis_url(o.string("url"), why);
  if (!address) o.error("url", why);
  const std::int64_t timeout = o.integer("timeout_ms");
  if (timeout < 1) o.error("timeout_ms", "must be at least 1");
  if (!address || timeout < 1) return std::nullopt;
  return RedisServer{std::move(*address), std::chrono::milliseconds(timeout)};
}

void check_reply(const RedisServer& server, const RedisReply& reply, const char* command) {
  if (reply.is_error())
    throw std::runtime_error(fmt::format("{}: {} refused: {}", server.address.describe(), command, reply.text()));
}

}  // namespace flowbatch
