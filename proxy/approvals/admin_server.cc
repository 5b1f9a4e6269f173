#include "proxy/approvals/admin_server.h"

#include <openssl/ssl.h>

#include <chrono>
#include <exception>
#include <mutex>
#include <thread>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include "proxy/net.h"

namespace schemagate::proxy::approvals {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr auto kRequestDeadline = 30s;  // read a whole request (or the TLS handshake), write an answer
constexpr auto kDrainDeadline = 2s;     // lingering close after an error answer
constexpr std::size_t kDrainBytes = 1024 * 1024;
// Beyond this many open connections new ones are closed at once: every connection costs a
// coroutine and a descriptor, and an approver needs a handful.
constexpr std::size_t kMaxConnections = 256;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

bool is_end_of_stream(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == ssl::error::stream_truncated || ec == net::error::operation_aborted;
}

std::string_view log_text(std::string_view s) { return s.substr(0, 200); }

}  // namespace

struct AdminServer::Impl {
  explicit Impl(const config::Admin& c) : cfg(c) {}
  ~Impl() { shutdown(); }

  /// Stops the thread, then destroys the io_context, and with it every connection coroutine
  /// still suspended (so that their sockets close), while the members they refer to still live.
  void shutdown() {
    std::lock_guard lock(stop_mu);
    if (ioc && thread.joinable()) {
      ioc->stop();
      thread.join();
    }
    error_code ec;
    if (acceptor) acceptor->close(ec);
    acceptor.reset();
    ioc.reset();
  }

  awaitable<void> accept_loop();
  awaitable<void> connection(tcp::socket socket);
  template <class Stream>
  awaitable<void> serve_requests(Stream& stream, std::string peer);
  template <class Stream>
  awaitable<void> write_error_and_drain(Stream& stream, unsigned version, http::status status, std::string message,
                                        const std::string& peer);

  config::Admin cfg;
  std::unique_ptr<net::io_context> ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<ssl::context> tls;  // null: plain HTTP
  std::shared_ptr<const AdminApi> api;
  std::thread thread;
  std::mutex stop_mu;
  std::uint16_t port = 0;
  std::size_t connections = 0;  // the io thread's alone
};

namespace {

/// Sends close_notify (bounded), or half-closes the TCP stream.
awaitable<void> close_gracefully(TlsStream& stream) {
  beast::get_lowest_layer(stream).expires_after(5s);
  error_code ec;
  co_await stream.async_shutdown(net::redirect_error(use_awaitable, ec));
  beast::get_lowest_layer(stream).socket().close(ec);
}
awaitable<void> close_gracefully(PlainStream& stream) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);
  co_return;
}
void half_close(TlsStream&) {}  // no half-close under TLS: the drain's deadline ends it
void half_close(PlainStream& stream) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

http::response<http::string_body> to_beast(const HttpResponse& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace

template <class Stream>
awaitable<void> AdminServer::Impl::write_error_and_drain(Stream& stream, unsigned version, http::status status,
                                                        std::string message, const std::string& peer) {
  HttpResponse r;
  r.status = static_cast<int>(status);
  r.body = "{\"error\":\"" + message + "\"}";
  auto res = to_beast(r, version, false);
  error_code ec;
  beast::get_lowest_layer(stream).expires_after(kRequestDeadline);
  co_await http::async_write(stream, res, net::redirect_error(use_awaitable, ec));
  spdlog::debug("admin {}: {} ({})", peer, r.status, message);
  if (ec) co_return;
  // Lingering close: closing with unread request bytes would make the kernel answer with a
  // reset, which can destroy the answer before the client has read it.
  half_close(stream);
  beast::get_lowest_layer(stream).expires_after(kDrainDeadline);
  std::array<char, 16 * 1024> sink;
  std::size_t drained = 0;
  while (drained < kDrainBytes) {
    const std::size_t n =
        co_await stream.async_read_some(net::buffer(sink), net::redirect_error(use_awaitable, ec));
    if (ec) break;
    drained += n;
  }
  beast::get_lowest_layer(stream).socket().close(ec);
}

template <class Stream>
awaitable<void> AdminServer::Impl::serve_requests(Stream& stream, std::string peer) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(std::uint64_t{cfg.max_body_bytes});
    beast::get_lowest_layer(stream).expires_after(kRequestDeadline);
    error_code ec;
    co_await http::async_read_header(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
    if (!ec && !parser.is_done()) {
      // curl and others wait for this before sending a body of some size.
      const auto expect = parser.get()[http::field::expect];
      if (beast::iequals(expect, "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
        co_await http::async_write(stream, cont, net::redirect_error(use_awaitable, ec));
      }
      if (!ec) co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
    }
    const unsigned version = parser.is_header_done() ? parser.get().version() : 11;
    if (ec == http::error::body_limit) {
      const std::string message = "body over admin.max_body_bytes (" + std::to_string(cfg.max_body_bytes) + ")";
      co_await write_error_and_drain(stream, version, http::status::payload_too_large, message, peer);
      co_return;
    }
    if (ec == http::error::header_limit) {
      const std::string message = "request headers too large";
      co_await write_error_and_drain(stream, version, http::status::request_header_fields_too_large, message, peer);
      co_return;
    }
    if (ec == beast::error::timeout || is_end_of_stream(ec)) co_return;  // idle keep-alive or gone
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) {  // a parse error
      const std::string message = "malformed HTTP request";
      co_await write_error_and_drain(stream, version, http::status::bad_request, message, peer);
      co_return;
    }
    if (ec) {
      spdlog::debug("admin {}: read failed: {}", peer, ec.message());
      co_return;
    }

    const auto& req = parser.get();
    HttpRequest in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    in.authorization = std::string(req[http::field::authorization]);
    in.body = req.body();
    const HttpResponse out = api->handle(in);
    if (spdlog::should_log(spdlog::level::debug)) {
      // Never the token: only the identity it maps to.
      const auto approver = api->approver_for(in.authorization);
      spdlog::debug("admin {} {} {} → {} ({})", peer, in.method, log_text(in.target), out.status,
                    approver ? *approver : std::string("-"));
    }
    const bool keep_alive = req.keep_alive();
    auto res = to_beast(out, version, keep_alive);
    beast::get_lowest_layer(stream).expires_after(kRequestDeadline);
    co_await http::async_write(stream, res, net::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    if (!keep_alive) {
      co_await close_gracefully(stream);
      co_return;
    }
  }
}

awaitable<void> AdminServer::Impl::connection(tcp::socket socket) {
  struct Counted {
    std::size_t& n;
    explicit Counted(std::size_t& count) : n(count) { ++n; }
    ~Counted() { --n; }
  } counted(connections);
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  const auto remote = socket.remote_endpoint(ec);
  const std::string peer = ec ? std::string("?") : remote.address().to_string() + ":" + std::to_string(remote.port());
  if (!tls) {
    PlainStream stream(std::move(socket));
    co_await serve_requests(stream, peer);
    co_return;
  }
  TlsStream stream(std::move(socket), *tls);
  beast::get_lowest_layer(stream).expires_after(kRequestDeadline);
  co_await stream.async_handshake(ssl::stream_base::server, net::redirect_error(use_awaitable, ec));
  if (ec) {
    // Plain HTTP to the HTTPS port lands here too: nothing to answer in a protocol it speaks.
    spdlog::debug("admin {}: TLS handshake failed: {}", peer, ec.message());
    co_return;
  }
  co_await serve_requests(stream, peer);
}

awaitable<void> AdminServer::Impl::accept_loop() {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor->async_accept(net::redirect_error(use_awaitable, ec));
    if (ec == net::error::operation_aborted || !acceptor->is_open()) co_return;
    if (ec) {
      spdlog::warn("admin listener: accept failed: {}", ec.message());
      // EMFILE and friends: do not spin.
      net::steady_timer pause(*ioc, 100ms);
      co_await pause.async_wait(net::redirect_error(use_awaitable, ec));
      continue;
    }
    if (connections >= kMaxConnections) {
      spdlog::warn("admin listener: {} connections open, refusing another", connections);
      socket.close(ec);
      continue;
    }
    net::co_spawn(*ioc, connection(std::move(socket)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("admin connection ended with an error: {}", ex.what());
      }
    });
  }
}

AdminServer::AdminServer(const config::Admin& cfg) : impl_(std::make_unique<Impl>(cfg)) {}

AdminServer::~AdminServer() { stop(); }

bool AdminServer::bind(std::string& error) {
  auto& im = *impl_;
  if (im.acceptor) {
    error = "admin listener already bound";
    return false;
  }
  error_code ec;
  const auto address = net::ip::make_address(im.cfg.address, ec);
  if (ec) {
    error = "admin.address: '" + im.cfg.address + "' is not an IP address";
    return false;
  }
  if (!im.cfg.tls.cert_file.empty()) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                     ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
    ctx->use_certificate_chain_file(im.cfg.tls.cert_file, ec);
    if (ec) {
      error = "admin.tls.cert_file: cannot load '" + im.cfg.tls.cert_file + "': " + ec.message();
      return false;
    }
    ctx->use_private_key_file(im.cfg.tls.key_file, ssl::context::pem, ec);
    if (ec) {
      error = "admin.tls.key_file: cannot load '" + im.cfg.tls.key_file + "': " + ec.message();
      return false;
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      error = "admin.tls.key_file: private key does not match admin.tls.cert_file";
      return false;
    }
    im.tls = std::move(ctx);
  }
  im.ioc = std::make_unique<net::io_context>(1);
  im.acceptor = std::make_unique<tcp::acceptor>(*im.ioc);
  const tcp::endpoint ep(address, im.cfg.port);
  im.acceptor->open(ep.protocol(), ec);
  if (!ec) im.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) im.acceptor->bind(ep, ec);
  if (!ec) im.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "admin: cannot listen on " + im.cfg.address + ":" + std::to_string(im.cfg.port) + ": " + ec.message();
    im.acceptor.reset();
    im.ioc.reset();
    return false;
  }
  im.port = im.acceptor->local_endpoint().port();
  return true;
}

void AdminServer::serve(std::shared_ptr<const AdminApi> api) {
  auto& im = *impl_;
  if (!im.acceptor || im.thread.joinable()) return;
  im.api = std::move(api);
  net::co_spawn(*im.ioc, im.accept_loop(), net::detached);
  im.thread = std::thread([&im] {
    try {
      im.ioc->run();
    } catch (const std::exception& e) {
      spdlog::error("admin listener stopped: {}", e.what());
    }
  });
  spdlog::info("admin API listening on {}", base_url());
}

void AdminServer::stop() { impl_->shutdown(); }

std::uint16_t AdminServer::port() const { return impl_->port; }

std::string AdminServer::base_url() const {
  const auto& im = *impl_;
  std::string host = im.cfg.address;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(im.tls ? "https://" : "http://") + host + ":" + std::to_string(im.port);
}

}  // namespace schemagate::proxy::approvals
