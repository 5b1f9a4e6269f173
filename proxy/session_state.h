#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace schemagate::proxy {

/// Where a session is. Startup, then the ready stages, which the client pump moves between
/// one request at a time (the server pump only relays and tracks state):
///
///   startup ──SSLRequest──► tls ──► startup ──StartupMessage──► auth ──'Z'──► relaying
///   relaying ──DDL naming existing tables──► fetching_facts ──► relaying
///   relaying ──policy refuses──► answering (reply written by the proxy) ──► relaying
///   relaying ──rewrite──► running_plan (phases on the server connection) ──► relaying
///   relaying ──hold──► held (waiting for an approval; the approvals issue) ──► relaying | running_plan
///   auth ──'Z' on a console session──► console (queries answered by the proxy, no server)
///   any ──error, Terminate, shutdown──► closing
///
/// Draining (SIGTERM) is not a stage of its own: it overlays every ready stage and closes the
/// session as soon as it is back in `relaying` with nothing in flight.
enum class Stage { startup, tls, auth, relaying, fetching_facts, answering, running_plan, held, console, closing };

/// "relaying", "held", ...: as SHOW CLIENTS prints it.
inline const char* to_string(Stage s) {
  switch (s) {
    case Stage::startup: return "startup";
    case Stage::tls: return "tls";
    case Stage::auth: return "auth";
    case Stage::relaying: return "relaying";
    case Stage::fetching_facts: return "fetching_facts";
    case Stage::answering: return "answering";
    case Stage::running_plan: return "running_plan";
    case Stage::held: return "held";
    case Stage::console: return "console";
    case Stage::closing: return "closing";
  }
  return "unknown";
}

/// True for the stages after authentication.
inline bool is_ready(Stage s) { return s != Stage::startup && s != Stage::tls && s != Stage::auth && s != Stage::closing; }

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
  /// Requests already sent to the server are unanswered (a ReadyForQuery is due, or a request
  /// ended in Flush and no ReadyForQuery has come since): `parameters` may be about to change.
  bool replies_pending = false;
  /// A statement judged since the session was last idle takes ACCESS EXCLUSIVE on an existing
  /// table, so the open transaction may hold that lock: DML is judged too until the server
  /// reports the session idle with nothing more in flight.
  bool exclusive_lock_held = false;
  std::map<std::string, std::string, std::less<>> parameters;  // server_version, TimeZone, ...

  /// A ParameterStatus value, empty if the server never reported it.
  const std::string& parameter(const std::string& name) const {
    static const std::string kEmpty;
    const auto it = parameters.find(name);
    return it == parameters.end() ? kEmpty : it->second;
  }
};

}  // namespace schemagate::proxy
