#pragma once
// The admin console's commands, run against the proxy's services. No sockets: the session
// (session_console.cc) reads the query, calls run_query() and writes the bytes it returns.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace schemagate::proxy {
struct SessionContext;
class ServerControl;
}  // namespace schemagate::proxy

namespace schemagate::proxy::console {

/// Who is asking, and what they may reach.
struct Caller {
  const SessionContext& ctx;
  ServerControl* control = nullptr;  // null: SHOW CLIENTS/SERVERS, RELOAD, PAUSE refuse
  std::string user;                  // the database user the upstream authenticated: the approver identity
};

/// Runs every command of one simple-protocol query and appends the backend messages that
/// answer it — RowDescription/DataRow/CommandComplete per command, or one ErrorResponse that
/// stops the rest, as PostgreSQL does — but not the ReadyForQuery.
void run_query(std::string_view text, const Caller& caller, std::vector<std::byte>& out);

}  // namespace schemagate::proxy::console
