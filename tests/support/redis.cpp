#include "tests/support/redis.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/support/nginx.h"  // free_port

namespace flowbatch::test {

std::string RedisProcess::program() {
  for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"})
    if (std::filesystem::exists(p)) return p;
  return {};
}

RedisProcess::RedisProcess(const TempDir& dir, const std::vector<std::string>& extra) : port_(free_port()) {
  const std::string redis = program();
  REQUIRE_MESSAGE(!redis.empty(), "redis-server is not installed");
  std::vector<std::string> args = {redis,
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir.path().string(),
                                   "--logfile",
                                   (dir / "redis.log").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  pid_ = start_program(args);
  RedisAddress address{"127.0.0.1", port_, 0, "", ""};
  for (std::size_t i = 0; i + 1 < extra.size(); ++i)
    if (extra[i] == "--requirepass") address.password = extra[i + 1];
  connection_ = std::make_unique<RedisConnection>(address, std::chrono::seconds(5));
  const bool up = eventually(
      [&] {
        try {
          return connection_->command({"PING"}).text() == "PONG";
        } catch (const std::exception&) {
          return false;
        }
      },
      std::chrono::seconds(10));
  REQUIRE_MESSAGE(up, "redis-server does not answer: " << read_file(dir / "redis.log"));
}

RedisProcess::~RedisProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
}

void RedisProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

RedisReply RedisProcess::command(const std::vector<std::string>& args) {
  RedisReply reply = connection_->command(args);
  REQUIRE_MESSAGE(!reply.is_error(), args.front() << ": " << reply.text());
  return reply;
}

}  // namespace flowbatch::test
