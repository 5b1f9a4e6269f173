#pragma once
#include <memory>
#include <string>

#include "config/model.h"
#include "proxy/net.h"

namespace schemagate::proxy {

/// The OpenSSL contexts a server needs, built once from the config.
struct TlsContexts {
  std::unique_ptr<ssl::context> client_facing;  // null when no listen.tls certificate is configured
  std::unique_ptr<ssl::context> upstream;       // null when upstream.tls.mode is disable
};

/// Builds both contexts; on failure returns false and a message naming the config key.
bool make_tls_contexts(const config::Config& cfg, TlsContexts& out, std::string& error);

}  // namespace schemagate::proxy
