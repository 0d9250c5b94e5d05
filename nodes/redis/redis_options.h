#pragma once
// The keys every Redis source and sink shares: where the server is, and how long to wait for it.
#include <chrono>
#include <optional>
#include <vector>

#include "engine/io/redis_connection.h"
#include "flowbatch/options.h"

namespace flowbatch {

struct RedisServer {
  RedisAddress address;
  std::chrono::milliseconds timeout{};
  std::unique_ptr<RedisConnection> connect() const { return std::make_unique<RedisConnection>(address, timeout); }
};

std::vector<KeySpec> redis_server_keys();
/// Nothing after reporting errors. The URL is never quoted back (it may hold a password).
std::optional<RedisServer> read_redis_server(Options& o);
/// Throws std::runtime_error ("<server>: <command> refused: <reason>") for an error reply.
void check_reply(const RedisServer& server, const RedisReply& reply, const char* command);

}  // namespace flowbatch
