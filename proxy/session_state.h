#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace schemagate::proxy {

/// Lifecycle of a session:
///   startup ──SSLRequest──► tls ──► startup ──StartupMessage──► auth ──'Z'──► ready
///   ready ◄──► copy (CopyIn/CopyOut/CopyBoth until CopyDone/CopyFail/'Z')
///   any ──error, Terminate, drain──► closing
enum class Phase { startup, tls, auth, ready, closing };

/// What the proxy knows about a session; read by the interceptor (and so by the policy).
/// Filled from the client's startup packet and from the server's ParameterStatus and
/// ReadyForQuery messages — the server is the authority, never the client's claims.
struct SessionState {
  std::uint64_t id = 0;
  std::string client_addr;
  std::string user;
  std::string database;
  std::string application_name;  // from startup; updated by ParameterStatus
  char tx_status = 'I';          // from the latest ReadyForQuery: I idle, T in block, E failed block
  bool lock_timeout_set = false;  // the client ran SET lock_timeout (tracked from its statements)
  std::map<std::string, std::string, std::less<>> parameters;  // server_version, TimeZone, ...

  /// A ParameterStatus value, empty if the server never reported it.
  const std::string& parameter(const std::string& name) const {
    static const std::string kEmpty;
    const auto it = parameters.find(name);
    return it == parameters.end() ? kEmpty : it->second;
  }
};

}  // namespace schemagate::proxy
