#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "protocol/backend.h"

namespace schemagate::proxy {

/// The typed answer to one simple Query the proxy sent on a session's server connection itself
/// (catalog facts, plan phases, the abort of a refused transaction). The server pump fills it
/// from the frames up to the matching ReadyForQuery; none of them reach the client except
/// ParameterStatus and NotificationResponse, which are relayed as usual.
struct QueryResult {
  using Row = std::vector<std::optional<std::string>>;
  std::vector<Row> rows;                   // DataRow values in text format, of every statement
  std::vector<std::string> command_tags;   // CommandComplete tags in order ("UPDATE 100")
  std::optional<protocol::ErrorFields> error;  // the ErrorResponse, if a statement failed
  std::vector<protocol::ErrorFields> notices;  // NoticeResponses the server sent meanwhile
  char tx_status = 'I';                    // from the closing ReadyForQuery
  bool malformed = false;                  // a DataRow or ErrorResponse could not be decoded
  bool connection_lost = false;            // the server connection ended before ReadyForQuery
  /// Set before the exchange: `replies` keeps the server's frames as sent (ReadyForQuery and
  /// the asynchronous ParameterStatus/NotificationResponse, which reach the client, left out).
  bool keep_replies = false;
  /// Set before the exchange: every frame but ReadyForQuery goes to the client as it arrives (a
  /// passthrough statement of the client's message); rows are not kept.
  bool relay_to_client = false;
  std::vector<std::byte> replies;

  bool ok() const { return !error && !malformed && !connection_lost; }
  const std::string& sqlstate() const {
    static const std::string kNone;
    return error ? error->sqlstate : kNone;
  }
};

}  // namespace schemagate::proxy
