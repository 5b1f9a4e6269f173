#pragma once
// What the admin console asks of the server it runs in: the sessions it has, a reload, and
// the switch that pauses new DDL. Implemented by Server; an interface so that the console's
// command code does not see the server's sockets.
#include <cstdint>
#include <string>
#include <vector>

namespace schemagate::proxy {

/// One session as SHOW CLIENTS / SHOW SERVERS print it: a copy, taken under the session's
/// summary lock (the session updates it only at startup and when application_name changes).
struct SessionSummary {
  std::uint64_t id = 0;
  std::string user, database, application_name, client_addr;
  std::string stage;            // to_string(Stage)
  char tx_status = 'I';         // of the latest ReadyForQuery
  bool client_tls = false;
  bool server_tls = false;
  bool console = false;         // an admin console session (no server connection after auth)
  std::uint32_t server_pid = 0;  // the backend serving it, 0 when there is none
  std::int64_t connected_ms = 0;      // wall clock, ms since the Unix epoch
  std::int64_t idle_ms = 0;           // since the last client activity
};

class ServerControl {
 public:
  virtual ~ServerControl() = default;
  virtual std::vector<SessionSummary> sessions() const = 0;
  /// As Server::reload: false (with why) when refused, the running configuration kept.
  virtual bool reload(std::string& message) = 0;
  /// New DDL is refused (SG001) while paused; `by` says who paused it and when.
  virtual void set_ddl_paused(bool paused, const std::string& by) = 0;
  virtual bool ddl_paused(std::string* by = nullptr) const = 0;
  virtual bool draining() const = 0;
};

}  // namespace schemagate::proxy
