#pragma once
#include <memory>
#include <string>

#include "proxy/net.h"

namespace schemagate::proxy {

/// One connection, plain or TLS over the same TCP socket (PgBouncer's raw/TLS ops).
/// Starts plain; `upgrade_*` switches to TLS after an SSLRequest was answered 'S'.
class Stream {
 public:
  explicit Stream(StreamSocket socket) : socket_(std::move(socket)) {}

  StreamSocket& socket() { return socket_; }
  bool is_tls() const { return tls_ != nullptr; }

  /// Server side of a handshake (we are the server towards a client).
  awaitable<error_code> upgrade_as_server(ssl::context& ctx);
  /// Client side of a handshake towards the database; `verify_name` non-empty checks the host name.
  awaitable<error_code> upgrade_as_client(ssl::context& ctx, bool verify_peer, std::string verify_name,
                                          std::string sni);

  // Not coroutines themselves: they return the socket operation's own awaitable, so a pump
  // that co_awaits them costs one Asio frame per operation (which Asio recycles).
  awaitable<std::size_t> read_some(net::mutable_buffer b, error_code& ec) {
    auto token = net::redirect_error(use_awaitable, ec);
    return tls_ ? tls_->async_read_some(b, token) : socket_.async_read_some(b, token);
  }
  awaitable<std::size_t> write_all(net::const_buffer b, error_code& ec) {
    auto token = net::redirect_error(use_awaitable, ec);
    return tls_ ? net::async_write(*tls_, b, token) : net::async_write(socket_, b, token);
  }

  /// Writes what the socket takes right now, without suspending (plain sockets; TLS writes
  /// nothing here), and returns what is left for write_all. The forwarding path tries this
  /// first, so a write that fits in the socket buffer (nearly all of them) costs one send and
  /// no trip through the scheduler.
  net::const_buffer try_write(net::const_buffer b, error_code& ec) {
    if (tls_ || b.size() == 0) return b;
    if (!non_blocking_) {
      socket_.non_blocking(true, ec);
      if (ec) return b;
      non_blocking_ = true;
    }
    const auto n = socket_.write_some(b, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) ec.clear();
    return b + n;
  }

  /// Closes the socket (wakes any pending read or write with an error).
  void close();

 private:
  StreamSocket socket_;
  std::unique_ptr<ssl::stream<StreamSocket&>> tls_;
  bool non_blocking_ = false;  // user-level non-blocking mode, set on the first try_write
};

}  // namespace schemagate::proxy
