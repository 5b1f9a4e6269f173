#pragma once
// The admin console's language: what `psql dbname=schemagate` may send, parsed into commands.
// Pure text in, data out (no sockets, no services): fuzzed by tests/fuzz/fuzz_console_command.
//
//   SHOW REQUESTS [status]        SHOW REQUEST 'id'          SHOW MIGRATIONS
//   SHOW CLIENTS                  SHOW SERVERS               SHOW STATS
//   SHOW CONFIG                   SHOW VERSION               SHOW HELP
//   APPROVE 'id' [REASON '...']   DENY 'id' REASON '...'
//   RELOAD                        PAUSE                      RESUME
//
// Keywords are case-insensitive; a string is '...' with '' for a quote (standard SQL, no
// backslash escapes); several commands may be sent in one query, separated by ';'.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace schemagate::proxy::console {

enum class Verb {
  show_requests,
  show_request,
  show_migrations,
  show_clients,
  show_servers,
  show_stats,
  show_config,
  show_version,
  show_help,
  approve,
  deny,
  reload,
  pause,
  resume
};

struct Command {
  Verb verb = Verb::show_help;
  std::string argument;  // the request id (SHOW REQUEST, APPROVE, DENY) or the status (SHOW REQUESTS)
  std::string reason;    // APPROVE/DENY ... REASON '...'
};

/// A query's commands, or the first error (with the offending command's text).
struct Script {
  std::vector<Command> commands;
  std::string error;  // empty on success
};

/// Parses one simple-protocol query. An empty query (only blanks and ';') gives no commands.
Script parse_script(std::string_view text);

}  // namespace schemagate::proxy::console
