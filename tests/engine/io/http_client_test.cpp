// The HTTP client against the real flowbatch-mock server on loopback, through real libcurl.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "engine/io/http_client.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;
using namespace std::chrono_literals;

namespace {
HttpRequest chat_request(const std::string& base, const std::string& prompt) {
  HttpRequest r;
  r.url = base + "/chat/completions";
  r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer test"}};
  r.body = R"({"model":"m","messages":[{"role":"user","content":")" + prompt + R"("}]})";
  return r;
}

/// Collects responses delivered on the loop thread.
struct Inbox {
  std::mutex mutex;
  std::vector<HttpResponse> responses;
  std::atomic<int> count{0};
  HttpClient::Done sink() {
    return [this](HttpResponse r) {
      std::lock_guard lock(mutex);
      responses.push_back(std::move(r));
      ++count;
    };
  }
  bool wait_for(int n, std::chrono::milliseconds limit = 20s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (count.load() < n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(2ms);
    }
    return true;
  }
};

/// A loopback port with nothing listening on it.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}
}  // namespace

TEST_CASE("requests sent from many threads are all answered through the I/O loop") {
  MockServer server;
  EventLoop loop;
  HttpClient http({&loop});
  loop.start();
  Inbox inbox;
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t)
    senders.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i)
        http.send(chat_request(server.base_url(), "hello " + std::to_string(t * 100 + i)), TransferOptions{}, inbox.sink());
    });
  for (auto& s : senders) s.join();
  REQUIRE(inbox.wait_for(200));
  loop.stop();
  for (const auto& r : inbox.responses) {
    CHECK(r.status == 200);
    CHECK(!r.transport_error);
    CHECK(r.body.find("mock reply ") != std::string::npos);
    REQUIRE(r.header("x-request-id"));  // header names arrive lower-cased
    CHECK(r.header("x-request-id")->rfind("req_", 0) == 0);
  }
  CHECK(server.stats().at("requests").to_number<int>() == 200);
}

TEST_CASE("a server that does not answer in time is a timeout, a closed port a network error") {
  MockServer hanging({"--hang-rate", "1"});
  EventLoop loop;
  HttpClient http({&loop});
  loop.start();
  Inbox inbox;
  http.send(chat_request(hanging.base_url(), "x"), TransferOptions{300ms, 1000ms}, inbox.sink());
  http.send(chat_request("http://127.0.0.1:" + std::to_string(closed_port()) + "/v1", "x"), TransferOptions{}, inbox.sink());
  REQUIRE(inbox.wait_for(2));
  loop.stop();
  int timeouts = 0, network = 0;
  for (const auto& r : inbox.responses) {
    REQUIRE(r.transport_error);
    CHECK(r.status == 0);
    if (r.transport_error->error_class == ErrorClass::timeout) {
      ++timeouts;
      CHECK(r.transport_error->message.find("within 300 ms") != std::string::npos);
    }
    if (r.transport_error->error_class == ErrorClass::network) ++network;
  }
  CHECK(timeouts == 1);
  CHECK(network == 1);
}

TEST_CASE("a connection that cannot be made in time is a network failure that says so, not a slow answer") {
  // A listening socket that never accepts, its backlog already full: the kernel drops further
  // SYNs, so connecting hangs until the connect time-out, as with an unreachable host.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener, 0) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  EventLoop loop;
  HttpClient http({&loop});
  loop.start();
  Inbox inbox;
  http.send(chat_request("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1", "x"), TransferOptions{5000ms, 300ms},
            inbox.sink());
  REQUIRE(inbox.wait_for(1));
  loop.stop();
  for (int fd : fillers) ::close(fd);
  ::close(listener);
  const HttpResponse& r = inbox.responses.at(0);
  REQUIRE(r.transport_error);
  CHECK(r.transport_error->error_class == ErrorClass::network);
  CHECK_MESSAGE(r.transport_error->message.find("could not connect within 300 ms") != std::string::npos, r.transport_error->message);
  CHECK(r.transport_error->message.find("no complete answer") == std::string::npos);
}

TEST_CASE("abort_all ends running and queued transfers at once") {
  MockServer hanging({"--hang-rate", "1"});
  EventLoop loop;
  HttpClient http({&loop});
  loop.start();
  Inbox inbox;
  for (int i = 0; i < 5; ++i) http.send(chat_request(hanging.base_url(), "x"), TransferOptions{60s, 1s}, inbox.sink());
  std::this_thread::sleep_for(200ms);  // let them start
  http.abort_all();
  REQUIRE(inbox.wait_for(5, 5s));  // far below the 60 s time-out
  http.send(chat_request(hanging.base_url(), "late"), TransferOptions{}, inbox.sink());  // refused at once
  REQUIRE(inbox.wait_for(6, 5s));
  loop.stop();
  for (const auto& r : inbox.responses) {
    REQUIRE(r.transport_error);
    CHECK(r.transport_error->message == "cancelled: the run stopped");
  }
}

TEST_CASE("transfers spread over several I/O threads") {
  MockServer server({"--latency-ms", "20", "--latency-sigma", "0"});
  EventLoop a, b;
  HttpClient http({&a, &b});
  a.start();
  b.start();
  Inbox inbox;
  std::atomic<int> on_a{0}, on_b{0};  // `done` runs on the thread of the loop that did the transfer
  auto done = [&, sink = inbox.sink()](HttpResponse r) {
    if (a.on_loop_thread()) ++on_a;
    if (b.on_loop_thread()) ++on_b;
    sink(std::move(r));
  };
  for (int i = 0; i < 40; ++i) http.send(chat_request(server.base_url(), "p" + std::to_string(i)), TransferOptions{}, done);
  REQUIRE(inbox.wait_for(40));
  a.stop();
  b.stop();
  for (const auto& r : inbox.responses) CHECK(r.status == 200);
  CHECK(on_a == 20);  // round-robin: each loop did half
  CHECK(on_b == 20);
}
