#include "proxy/tls_contexts.h"

namespace schemagate::proxy {

bool make_tls_contexts(const config::Config& cfg, TlsContexts& out, std::string& error) {
  error_code ec;
  if (!cfg.listen.tls.cert_file.empty()) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    // TLS 1.2+ only, no compression, no renegotiation: what PostgreSQL itself defaults to.
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                     ssl::context::single_dh_use);
    SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
    ctx->use_certificate_chain_file(cfg.listen.tls.cert_file, ec);
    if (ec) {
      error = "listen.tls.cert_file: cannot load '" + cfg.listen.tls.cert_file + "': " + ec.message();
      return false;
    }
    ctx->use_private_key_file(cfg.listen.tls.key_file, ssl::context::pem, ec);
    if (ec) {
      error = "listen.tls.key_file: cannot load '" + cfg.listen.tls.key_file + "': " + ec.message();
      return false;
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      error = "listen.tls.key_file: private key does not match listen.tls.cert_file";
      return false;
    }
    out.client_facing = std::move(ctx);
  }
  const auto mode = cfg.upstream.tls.mode;
  if (mode != config::UpstreamTlsMode::disable) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
    if (mode == config::UpstreamTlsMode::verify_ca || mode == config::UpstreamTlsMode::verify_full) {
      if (cfg.upstream.tls.ca_file.empty()) ctx->set_default_verify_paths(ec);
      else ctx->load_verify_file(cfg.upstream.tls.ca_file, ec);
      if (ec) {
        error = "upstream.tls.ca_file: cannot load '" + cfg.upstream.tls.ca_file + "': " + ec.message();
        return false;
      }
    }
    out.upstream = std::move(ctx);
  }
  return true;
}

}  // namespace schemagate::proxy
