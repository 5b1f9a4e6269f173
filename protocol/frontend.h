#pragma once
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "protocol/frame.h"

namespace schemagate::protocol {

/// Simple-protocol Query: a validated view over its frame.
struct Query {
  std::string_view sql;        // without the trailing NUL
  const char* c_sql = nullptr;  // the same bytes, NUL-terminated in the frame: libpg_query reads it in place
};
/// Checks the tag, the trailing NUL and that no NUL hides inside the text.
std::error_code parse_query(const Frame& f, Query& out);

/// Extended-protocol Parse: statement name and SQL text (parameter types are not needed).
struct Parse {
  std::string_view statement;
  std::string_view sql;
  const char* c_sql = nullptr;
};
std::error_code parse_parse(const Frame& f, Parse& out);

/// The SQL text a Query or Parse frame carries; empty for other or malformed frames (the server
/// rejects malformed ones itself).
std::string_view statement_sql(const Frame& f);

/// Appends a Query message (used by the proxy's own statements and by tests).
void write_query(std::vector<std::byte>& out, std::string_view sql);

}  // namespace schemagate::protocol
