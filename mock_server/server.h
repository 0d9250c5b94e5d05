#pragma once
// The HTTP side of flowbatch-mock: an Asio listener and one Beast session per connection
// (HTTP/1.1 keep-alive). Simulated latency waits in a steady_timer, so thousands of requests can
// be in flight on one thread. Boost stays out of this header: only server.cpp pays its compile time.
#include <cstdint>
#include <memory>
#include <string>

namespace flowbatch::mock {

class MockApi;

class HttpServer {
 public:
  /// Binds and listens at once (throws boost::system::system_error if it cannot).
  HttpServer(MockApi& api, const std::string& host, std::uint16_t port, int threads);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// "http://127.0.0.1:PORT", with the port actually bound.
  std::string url() const;
  /// Serves on `threads` threads (this one included) until SIGINT or SIGTERM.
  void run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowbatch::mock
