// The run's HTTP endpoint: the only file of the engine that includes Boost.Beast (its headers are
// heavy; nothing else pays for them).
#include "engine/io/control_server.h"

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <charconv>
#include <stdexcept>
#include <thread>

namespace flowbatch {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr std::uint64_t kBodyLimit = std::uint64_t{64} * 1024;  // control requests are small JSON objects

/// Compares in time independent of where the strings differ (a token guessed byte by byte).
bool same_secret(std::string_view given, std::string_view secret) {
  if (given.size() != secret.size() || secret.empty()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < secret.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ secret[i]);
  return diff == 0;
}

struct Shared {
  std::string token;
  ControlServer::Handler handler;
};

/// One connection: read a request, answer it, repeat while kept alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Shared& shared) : stream_(std::move(socket)), shared_(shared) {}

  void read() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

 private:
  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return close();
    const auto& message = parser_->get();
    const ControlResponse answer = answer_to(message);
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(answer.status));
    response_.set(http::field::server, "flowbatch");
    response_.set(http::field::content_type, answer.content_type);
    response_.set(http::field::cache_control, "no-store");
    if (answer.status == 401) response_.set(http::field::www_authenticate, "Bearer");
    response_.keep_alive(message.keep_alive());
    response_.body() = answer.body;
    response_.prepare_payload();
    http::async_write(stream_, response_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  ControlResponse answer_to(const http::request<http::string_body>& message) const {
    ControlRequest request;
    request.method = std::string(message.method_string());
    const std::string_view target = message.target();
    const std::size_t q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    request.body = message.body();
    if (request.method != "GET" && !shared_.token.empty()) {
      const std::string_view given = message[http::field::authorization];
      constexpr std::string_view kBearer = "Bearer ";
      if (given.substr(0, kBearer.size()) != kBearer || !same_secret(given.substr(kBearer.size()), shared_.token))
        return {401, "application/json",
                R"json({"error":"this request needs the run's token (Authorization: Bearer ...)"})json"};
    }
    try {
      return shared_.handler(request);
    } catch (const std::exception& e) {  // a handler's failure answers this request; the run goes on
      return {500, "application/json", fmt::format(R"({{"error":"{}"}})", e.what())};
    }
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec || !response_.keep_alive()) return close();
    read();
  }

  void close() {
    beast::error_code ignored;  // the peer may be gone already; the socket closes either way
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  const Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

}  // namespace

bool split_host_port(const std::string& address, std::string& host, unsigned short& port) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) return false;
  host = address.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned value = 0;
  const char* first = address.data() + colon + 1;
  const char* last = address.data() + address.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || end != last || value > 65535) return false;
  port = static_cast<unsigned short>(value);
  return !host.empty();
}

struct ControlServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  Shared shared;
  std::thread thread;

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;  // stopping
      if (!ec) std::make_shared<Session>(std::move(socket), shared)->read();
      accept();
    });
  }
};

ControlServer::ControlServer(const std::string& address, std::string token) : impl_(std::make_unique<Impl>()) {
  impl_->shared.token = std::move(token);
  std::string host;
  unsigned short port = 0;
  if (!split_host_port(address, host, port))
    throw std::runtime_error(fmt::format("cannot listen on \"{}\": expected host:port", address));
  beast::error_code ec;
  const auto ip = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot listen on {}: {} is not an IP address", address, host));
  const tcp::endpoint endpoint(ip, port);
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot listen on {}: {}", address, ec.message()));
}

ControlServer::~ControlServer() { stop(); }

std::string ControlServer::address() const {
  beast::error_code ec;
  const tcp::endpoint at = impl_->acceptor.local_endpoint(ec);
  if (ec) return {};
  const std::string host = at.address().to_string();
  return at.address().is_v6() ? fmt::format("[{}]:{}", host, at.port()) : fmt::format("{}:{}", host, at.port());
}

void ControlServer::start(Handler handler) {
  impl_->shared.handler = std::move(handler);
  impl_->accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

void ControlServer::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->io.stop();  // sessions still open are dropped with the context
  impl_->thread.join();
}

}  // namespace flowbatch
