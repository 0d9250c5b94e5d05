// The HTTP client against the real flowbatch-mock server on loopback, through real libcurl.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json/parse.hpp>

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

/// A socket listening on an ephemeral loopback port (with this backlog), whose address it fills.
int listen_on_loopback(int backlog, sockaddr_in& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  addr = sockaddr_in{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, backlog) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return fd;
}

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
        http.send(chat_request(server.base_url(), "hello " + std::to_string(t * 100 + i)), TransferOptions{},
                  inbox.sink());
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

TEST_CASE("a reused connection's handle sends each request's own method, headers and body") {
  // One request at a time on one loop: each takes the handle the one before it used. POSTs keep
  // the handle's options and only set their own; any other method resets it first. More header
  // sets than the client keeps built exercise the lists a transfer owns.
  MockServer server;
  EventLoop loop;
  HttpClient http({&loop});
  loop.start();
  struct Case {
    std::string method, tag, body;
  };
  std::vector<Case> cases = {{"POST", "a", "one"}, {"DELETE", "b", ""},   {"GET", "c", ""},
                             {"POST", "d", "two"}, {"PUT", "e", "three"}, {"POST", "a", ""}};
  for (int i = 0; i < 20; ++i) cases.push_back({"POST", "tag" + std::to_string(i), "body " + std::to_string(i)});
  Inbox inbox;  // one for all: the loop thread may still be leaving its lock when an answer is seen
  int sent = 0;
  for (const Case& c : cases) {
    HttpRequest r;
    r.method = c.method;
    r.url = server.url() + "/echo";
    r.headers = {{"X-Tag", c.tag}};
    r.body = c.body;
    http.send(r, TransferOptions{}, inbox.sink());
    REQUIRE(inbox.wait_for(++sent));
    HttpResponse answer;
    {
      std::lock_guard lock(inbox.mutex);
      answer = inbox.responses.back();
    }
    REQUIRE(answer.status == 200);
    const auto echoed = boost::json::parse(answer.body).as_object();
    CAPTURE(c.method);
    CAPTURE(c.tag);
    CHECK(echoed.at("method").as_string() == c.method);
    CHECK(echoed.at("body").as_string() == c.body);
    int tags = 0;
    for (const auto& h : echoed.at("headers").as_array()) {
      const auto& pair = h.as_array();
      if (pair[0].as_string() == "x-tag" || pair[0].as_string() == "X-Tag") {
        ++tags;
        CHECK(pair[1].as_string() == c.tag);
      }
      CHECK(pair[0].as_string() != "Expect");
    }
    CHECK(tags == 1);
  }
  loop.stop();
}

TEST_CASE("a server that does not answer in time is a timeout, a closed port a network error") {
  MockServer hanging({"--hang-rate", "1"});
  EventLoop loop;
  HttpClient http({&loop});
  loop.start();
  Inbox inbox;
  http.send(chat_request(hanging.base_url(), "x"), TransferOptions{300ms, 1000ms}, inbox.sink());
  http.send(chat_request("http://127.0.0.1:" + std::to_string(closed_port()) + "/v1", "x"), TransferOptions{},
            inbox.sink());
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
  sockaddr_in addr{};
  const int listener = listen_on_loopback(0, addr);
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
  http.send(chat_request("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1", "x"),
            TransferOptions{5000ms, 300ms}, inbox.sink());
  REQUIRE(inbox.wait_for(1));
  loop.stop();
  for (int fd : fillers) ::close(fd);
  ::close(listener);
  const HttpResponse& r = inbox.responses.at(0);
  REQUIRE(r.transport_error);
  CHECK(r.transport_error->error_class == ErrorClass::network);
  CHECK_MESSAGE(r.transport_error->message.find("could not connect within 300 ms") != std::string::npos,
                r.transport_error->message);
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
  REQUIRE(inbox.wait_for(5, 5s));                                                        // far below the 60 s time-out
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
  for (int i = 0; i < 40; ++i)
    http.send(chat_request(server.base_url(), "p" + std::to_string(i)), TransferOptions{}, done);
  REQUIRE(inbox.wait_for(40));
  a.stop();
  b.stop();
  for (const auto& r : inbox.responses) CHECK(r.status == 200);
  CHECK(on_a == 20);  // round-robin: each loop did half
  CHECK(on_b == 20);
}

TEST_CASE("only http and https are spoken: a file:// URL reads nothing") {
  EventLoop loop;
  HttpClient http({&loop});
  loop.start();
  Inbox inbox;
  HttpRequest r;
  r.method = "GET";
  r.url = "file:///etc/passwd";
  http.send(r, TransferOptions{}, inbox.sink());
  REQUIRE(inbox.wait_for(1));
  loop.stop();
  const HttpResponse& got = inbox.responses.at(0);
  CHECK(got.transport_error);
  CHECK(got.body.empty());
}

TEST_CASE("an answer trickling in is stopped by the low-speed limit, counted from its first byte") {
  MockServer trickling({"--trickle-rate", "1"});
  MockServer thinking({"--latency-ms", "2500", "--latency-sigma", "0"});  // slow to start, then quick
  EventLoop loop;
  HttpClient http({&loop});
  loop.start();
  Inbox inbox;
  const TransferOptions options{60s, 1s, nullptr, 8, 1000ms};
  const auto start = std::chrono::steady_clock::now();
  http.send(chat_request(trickling.base_url(), "x"), options, inbox.sink());
  http.send(chat_request(thinking.base_url(), "x"), options, inbox.sink());
  REQUIRE(inbox.wait_for(2));
  loop.stop();
  CHECK(std::chrono::steady_clock::now() - start < 15s);  // far below the 60 s time-out
  int slow = 0, answered = 0;
  for (const auto& r : inbox.responses) {
    if (r.status == 200) ++answered;
    if (r.transport_error && r.transport_error->error_class == ErrorClass::timeout) {
      ++slow;
      CHECK(r.transport_error->message.find("slower than 8 bytes/s for 1000 ms") != std::string::npos);
    }
  }
  CHECK(slow == 1);
  CHECK(answered == 1);
}

namespace {
/// A loopback server answering each GET with a 200 promising `promised` bytes, sending `sent` of
/// them, then holding the connection until it is destroyed.
class HalfAnswering {
 public:
  HalfAnswering(std::size_t promised, std::size_t sent) : promised_(promised), sent_(sent) {
    sockaddr_in addr{};
    listener_ = listen_on_loopback(16, addr);
    port_ = ntohs(addr.sin_port);
    accepting_ = std::thread([this] { serve(); });
  }
  ~HalfAnswering() {
    ::shutdown(listener_, SHUT_RDWR);
    accepting_.join();
    ::close(listener_);
    for (int fd : connections_) ::close(fd);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/big"; }

 private:
  void serve() {
    for (;;) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      connections_.push_back(fd);
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      const std::string answer =
          "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(promised_) + "\r\n\r\n" + std::string(sent_, 'x');
      for (std::size_t at = 0; at < answer.size();) {
        const ssize_t n = ::write(fd, answer.data() + at, answer.size() - at);
        if (n <= 0) break;
        at += static_cast<std::size_t>(n);
      }
    }
  }
  std::size_t promised_, sent_;
  int listener_ = -1;
  int port_ = 0;
  std::thread accepting_;
  std::vector<int> connections_;  // accepting thread only, until it is joined
};
}  // namespace

TEST_CASE("the answers being received together share one memory budget") {
  HalfAnswering server(200000, 60000);
  // Two loops, one transfer each (one loop would hold the second until the first connection is
  // free): the budget is shared across them.
  EventLoop loop, other;
  HttpClient http({&loop, &other}, 100000);  // room for one 60 kB half answer, not two
  loop.start();
  other.start();
  Inbox inbox;
  HttpRequest get;
  get.method = "GET";
  get.url = server.url();
  const TransferOptions options{2000ms, 1000ms, nullptr, 0, 1000ms};
  http.send(get, options, inbox.sink());
  http.send(get, options, inbox.sink());
  REQUIRE(inbox.wait_for(2));
  int over_budget = 0, timed_out = 0;
  for (const auto& r : inbox.responses) {
    REQUIRE(r.transport_error);
    if (r.transport_error->error_class == ErrorClass::network) {
      ++over_budget;
      CHECK_MESSAGE(r.transport_error->message.find("more than 100000 bytes of memory") != std::string::npos,
                    r.transport_error->message);
    }
    if (r.transport_error->error_class == ErrorClass::timeout) ++timed_out;
  }
  // Each alone fits: a failure shows the budget is shared. Usually one fails and the other goes
  // on (then times out); both fail only when both go over at the same moment.
  CHECK(over_budget >= 1);
  CHECK(over_budget + timed_out == 2);
  // Both ended: their memory is given back, and a third one has the whole budget again.
  http.send(get, options, inbox.sink());
  REQUIRE(inbox.wait_for(3));
  loop.stop();
  other.stop();
  REQUIRE(inbox.responses.at(2).transport_error);
  CHECK(inbox.responses.at(2).transport_error->error_class == ErrorClass::timeout);
}
