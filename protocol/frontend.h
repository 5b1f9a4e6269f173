#pragma once
#include <span>
#include <string_view>
#include <system_error>
#include <cstdint>
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
  // Declared parameter type OIDs (0 = unspecified), left encoded so that framing the hot path
  // allocates nothing: param_type(i) reads one.
  std::uint16_t param_count = 0;
  std::span<const std::byte> param_type_bytes;
  std::uint32_t param_type(std::size_t i) const;
};
std::error_code parse_parse(const Frame& f, Parse& out);

/// Bind: which portal from which prepared statement (parameter values are not decoded).
struct Bind {
  std::string_view portal;
  std::string_view statement;
};
std::error_code parse_bind(const Frame& f, Bind& out);

/// Describe or Close: 'S' (prepared statement) or 'P' (portal), and its name.
struct DescribeTarget {
  char kind = 'S';
  std::string_view name;
};
std::error_code parse_describe(const Frame& f, DescribeTarget& out);
std::error_code parse_close(const Frame& f, DescribeTarget& out);

/// Execute: the portal and the row limit (0 = all).
struct Execute {
  std::string_view portal;
  std::uint32_t max_rows = 0;
};
std::error_code parse_execute(const Frame& f, Execute& out);

/// The SQL text a Query or Parse frame carries; empty for other or malformed frames (the server
/// rejects malformed ones itself).
std::string_view statement_sql(const Frame& f);

/// Appends a Query message (used by the proxy's own statements and by tests).
void write_query(std::vector<std::byte>& out, std::string_view sql);
/// Appends a Parse message (the proxy prepares a statement it answered for earlier).
void write_parse(std::vector<std::byte>& out, std::string_view statement, std::string_view sql,
                 std::span<const std::uint32_t> param_types);
/// Appends a Sync message.
void write_sync(std::vector<std::byte>& out);
/// Appends a Close message for a prepared statement ('S') or a portal ('P').
void write_close(std::vector<std::byte>& out, char kind, std::string_view name);
/// Appends an Execute message (max_rows 0: all rows).
void write_execute(std::vector<std::byte>& out, std::string_view portal, std::uint32_t max_rows = 0);

}  // namespace schemagate::protocol
