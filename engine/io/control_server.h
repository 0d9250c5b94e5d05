#pragma once
#include <functional>
#include <memory>
#include <string>

namespace flowbatch {

/// One request to the run's HTTP endpoint, as the handler sees it.
struct ControlRequest {
  std::string method;  ///< "GET", "POST"
  std::string path;    ///< without the query
  std::string query;   ///< after '?', if any
  std::string body;
};

struct ControlResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

/// The run's embedded HTTP endpoint (`pipeline.listen`): Boost.Beast over an Asio io_context that
/// this I/O module owns and runs on a thread of its own.
///
/// Why its own thread and not the libcurl loop (EventLoop): Asio's reactor cannot be driven from an
/// epoll loop it does not own without polling it, and a scrape must never wait behind a busy pass of
/// the HTTP loop (nor the loop behind a slow scraper). The handler it calls must stay short and
/// never block: it reads counters (atomics) and posts control actions to the engine's loop.
///
/// Requests that change the run (POST) need `Authorization: Bearer <token>` when a token is set
/// (401 otherwise); reads (GET) are open, as Prometheus scrapes are.
class ControlServer {
 public:
  using Handler = std::function<ControlResponse(const ControlRequest&)>;

  /// Binds `address` ("host:port"; port 0 picks a free one) at once, so a busy port is an error
  /// before the run starts. Throws std::runtime_error naming the address when it cannot.
  ControlServer(const std::string& address, std::string token);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  /// Where it listens: "127.0.0.1:9464" (the real port when 0 was asked for).
  std::string address() const;
  /// Starts serving on its thread; every request goes to `handler` (on that thread).
  void start(Handler handler);
  /// Stops serving and joins its thread (connections under way are closed). Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Splits "host:port" (or "[v6]:port"); false when it is not that shape or the port is not 0..65535.
bool split_host_port(const std::string& address, std::string& host, unsigned short& port);

}  // namespace flowbatch
