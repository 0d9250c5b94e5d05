#include "mock_server/server.h"

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <csignal>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "mock_server/api.h"

namespace flowbatch::mock {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(120);  // a keep-alive connection nobody uses
constexpr auto kHangLimit = std::chrono::minutes(10);     // how long a "hang" fault holds a socket
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr auto kTrickleInterval = std::chrono::seconds(1);  // a "trickle" fault's pace: one byte each

/// One connection: read a request, ask the API, wait the simulated latency, act, repeat.
/// Every step runs on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, MockApi& api, std::uint64_t body_limit)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), api_(api), body_limit_(body_limit) {}

  void start() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read_header, shared_from_this()));
  }

 private:
  void read_header() {
    parser_.emplace();
    parser_->body_limit(body_limit_);
    parser_->header_limit(kHeaderLimit);
    stream_.expires_after(kIdleTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      // libcurl sends larger bodies only after "100 Continue", or after waiting a whole second.
      continue_response_ = http::response<http::empty_body>(http::status::continue_, 11);
      http::async_write(stream_, continue_response_,
                        [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                          if (write_ec) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    stream_.expires_never();
    dispatch_request();
  }

  void on_read_error(beast::error_code ec) {
    // The client left (or idled out): nothing to answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec.category() != beast::http::make_error_code(http::error::bad_method).category())
      return close();
    // What remains is an HTTP parse error: answer it, then close (the stream cannot be resynced).
    keep_alive_ = false;
    if (ec == http::error::body_limit)
      reply_ =
          openai_error(413, fmt::format("The request body is over {} bytes.", body_limit_), "invalid_request_error");
    else if (ec == http::error::header_limit)
      reply_ = openai_error(431, "The request headers are too large.", "invalid_request_error");
    else reply_ = openai_error(400, fmt::format("Malformed HTTP request: {}.", ec.message()), "invalid_request_error");
    reply_.counted = false;
    write_reply();
  }

  void dispatch_request() {
    const auto& message = parser_->get();
    ApiRequest request;
    request.method = message.method_string();
    const std::string_view target = message.target();
    request.path = target.substr(0, target.find('?'));
    request.target = target;
    request.body = message.body();
    for (const auto& field : message) request.headers.emplace_back(field.name_string(), field.value());
    keep_alive_ = message.keep_alive();
    reply_ = api_.handle(request);

    if (reply_.delay <= std::chrono::milliseconds(0)) return act();
    timer_.expires_after(reply_.delay);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      // Only cancelled when the server stops; the request then ends unanswered.
      if (ec) return self->drop();
      self->act();
    });
  }

  void act() {
    switch (reply_.action) {
      case ReplyAction::respond: return write_reply();
      case ReplyAction::reset_connection: return reset();
      case ReplyAction::hang: return hang();
      case ReplyAction::truncate: return truncate();
      case ReplyAction::trickle: return trickle();
    }
  }

  void write_reply() {
    prepare_response();
    http::async_write(stream_, response_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  /// Fills response_ from reply_, and counts the answer.
  void prepare_response() {
    response_ = {};
    response_.version(11);
    response_.result(reply_.status);
    response_.set(http::field::server, "flowbatch-mock");
    response_.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : reply_.headers) response_.set(name, value);
    response_.keep_alive(keep_alive_);
    response_.body() = std::move(reply_.body);
    response_.prepare_payload();
    // Counted before the write completes, so a client that reads /stats right after its answer
    // sees it.
    if (reply_.counted) api_.stats().on_answered(reply_.status, reply_.request_hash);
  }

  /// A "trickle" fault: the whole answer, status line included, one byte a second, until it is
  /// all out or the client leaves.
  void trickle() {
    prepare_response();
    std::ostringstream text;
    text << response_;
    trickle_ = text.str();
    trickle_sent_ = 0;
    trickle_next();
  }

  void trickle_next() {
    if (trickle_sent_ == trickle_.size()) return on_write({}, 0);
    asio::async_write(stream_, asio::buffer(trickle_.data() + trickle_sent_, 1),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        ++self->trickle_sent_;
                        self->timer_.expires_after(kTrickleInterval);
                        self->timer_.async_wait([self](beast::error_code wait_ec) {
                          if (wait_ec) return self->close();
                          self->trickle_next();
                        });
                      });
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return close();
    if (!keep_alive_) {
      beast::error_code ignored;  // the peer may already be gone; the socket closes either way
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    read_header();
  }

  /// A "reset" fault: an abortive close (RST), so the client sees the connection die unanswered.
  void reset() {
    drop();
    beast::error_code ignored;  // nothing to do about a socket that cannot be closed nicely
    stream_.socket().set_option(tcp::socket::linger(true, 0), ignored);
    stream_.socket().close(ignored);
  }

  /// A "truncated" fault: a 200 whose Content-Length promises twice the bytes sent, then a close,
  /// as when a proxy or the server dies mid-answer.
  void truncate() {
    drop();
    const std::string body =
        R"({"id":"chatcmpl-cut","object":"chat.completion","choices":[{"index":0,"message":{"role":)";
    raw_ = fmt::format(
        "HTTP/1.1 200 OK\r\nServer: flowbatch-mock\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.size() * 2, body);
    asio::async_write(stream_.socket(), asio::buffer(raw_),
                      [self = shared_from_this()](beast::error_code, std::size_t) { self->close(); });
  }

  /// A "hang" fault: never answer; hold the socket until the client leaves or kHangLimit passes.
  void hang() {
    hanging_ = true;
    timer_.expires_after(kHangLimit);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->end_hang();
    });
    wait_for_client_to_leave();
  }

  void wait_for_client_to_leave() {
    stream_.socket().async_read_some(asio::buffer(discard_),
                                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                       if (ec) return self->end_hang();
                                       self->wait_for_client_to_leave();
                                     });
  }

  void end_hang() {
    if (!hanging_) return;
    hanging_ = false;
    timer_.cancel();
    drop();
    close();
  }

  /// The request ends without an answer.
  void drop() {
    if (reply_.counted) api_.stats().on_dropped();
    reply_.counted = false;
  }

  void close() {
    beast::error_code ignored;  // closing a socket the peer already closed is not an error here
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  MockApi& api_;
  std::uint64_t body_limit_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::empty_body> continue_response_;
  http::response<http::string_body> response_;
  ApiReply reply_;
  std::string raw_;  // bytes written by hand (a truncated answer)
  bool keep_alive_ = true;
  bool hanging_ = false;
  std::array<char, 1024> discard_{};
  std::string trickle_;  // the serialized answer a trickle sends
  std::size_t trickle_sent_ = 0;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& io, const tcp::endpoint& endpoint, MockApi& api, std::uint64_t body_limit)
      : io_(io),
        acceptor_(asio::make_strand(io)),
        retry_timer_(acceptor_.get_executor()),
        api_(api),
        body_limit_(body_limit) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

 private:
  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // Typically out of file descriptors: wait a little rather than spin on the same error.
      std::cerr << "flowbatch-mock: accept failed: " << ec.message() << "\n";
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
        if (!wait_ec) self->accept();
      });
      return;
    }
    beast::error_code ignored;  // Nagle only adds latency; a socket that refuses it still works
    socket.set_option(tcp::no_delay(true), ignored);
    api_.stats().on_connection();
    std::make_shared<Session>(std::move(socket), api_, body_limit_)->start();
    accept();
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  MockApi& api_;
  std::uint64_t body_limit_;
};

}  // namespace

struct HttpServer::Impl {
  Impl(MockApi& api, const std::string& host, std::uint16_t port, int thread_count)
      : threads(thread_count),
        io(thread_count),
        // A JSON-escaped prompt can take several bytes per character; leave generous room.
        listener(std::make_shared<Listener>(
            io, tcp::endpoint(asio::ip::make_address(host), port), api,
            std::max<std::uint64_t>(8u << 20, 8 * static_cast<std::uint64_t>(api.options().max_prompt_chars)))),
        signals(io, SIGINT, SIGTERM) {}

  int threads;
  asio::io_context io;
  std::shared_ptr<Listener> listener;
  asio::signal_set signals;
};

HttpServer::HttpServer(MockApi& api, const std::string& host, std::uint16_t port, int threads)
    : impl_(std::make_unique<Impl>(api, host, port, threads)) {}

HttpServer::~HttpServer() = default;

std::string HttpServer::url() const {
  const tcp::endpoint endpoint = impl_->listener->local_endpoint();
  const auto address = endpoint.address();
  if (address.is_v6()) return fmt::format("http://[{}]:{}", address.to_string(), endpoint.port());
  return fmt::format("http://{}:{}", address.to_string(), endpoint.port());
}

void HttpServer::run() {
  impl_->listener->accept();
  impl_->signals.async_wait([this](beast::error_code ec, int) {
    if (ec) return;
    // Stopping the loop is enough: destroying it closes every socket and drops pending requests.
    impl_->io.stop();
  });
  std::vector<std::thread> workers;
  for (int i = 1; i < impl_->threads; ++i) workers.emplace_back([this] { impl_->io.run(); });
  impl_->io.run();
  for (auto& worker : workers) worker.join();
}

}  // namespace flowbatch::mock
