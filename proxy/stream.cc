#include "proxy/stream.h"

namespace schemagate::proxy {

awaitable<error_code> Stream::upgrade_as_server(ssl::context& ctx) {
  tls_ = std::make_unique<ssl::stream<StreamSocket&>>(socket_, ctx);
  error_code ec;
  co_await tls_->async_handshake(ssl::stream_base::server, net::redirect_error(use_awaitable, ec));
  co_return ec;
}

awaitable<error_code> Stream::upgrade_as_client(ssl::context& ctx, bool verify_peer, std::string verify_name,
                                                std::string sni) {
  tls_ = std::make_unique<ssl::stream<StreamSocket&>>(socket_, ctx);
  error_code ec;
  tls_->set_verify_mode(verify_peer ? ssl::verify_peer : ssl::verify_none, ec);
  if (!ec && !verify_name.empty()) tls_->set_verify_callback(ssl::host_name_verification(verify_name), ec);
  if (!ec && !sni.empty()) SSL_set_tlsext_host_name(tls_->native_handle(), sni.c_str());
  if (ec) co_return ec;
  co_await tls_->async_handshake(ssl::stream_base::client, net::redirect_error(use_awaitable, ec));
  co_return ec;
}

void Stream::close() {
  error_code ignored;
  socket_.shutdown(StreamSocket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace schemagate::proxy
