#pragma once
// Readiness: can the proxy reach the database server? Connects (TCP or the Unix socket) and
// closes at once without sending anything. That needs no credentials, starts no backend, and
// PostgreSQL deliberately logs nothing for it (postmaster's "no data at all" case, meant for
// service monitors); an SSLRequest would prove more but logs "could not accept SSL
// connection" on every probe of a TLS-enabled server.
// Blocking, with a deadline: called on the admin listener's thread, never on an I/O thread.
#include <cstdint>
#include <string>

#include "config/model.h"

namespace schemagate::proxy {

/// "" when the server answered within `timeout_ms`; otherwise why not.
std::string probe_upstream(const config::Upstream& upstream, std::uint32_t timeout_ms);

}  // namespace schemagate::proxy
