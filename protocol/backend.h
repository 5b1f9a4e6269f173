#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "protocol/frame.h"

namespace schemagate::protocol {

/// The fields of an ErrorResponse / NoticeResponse that schemagate reads or writes.
struct ErrorFields {
  std::string severity;  // ERROR, FATAL, NOTICE, ...
  std::string sqlstate;  // five characters
  std::string message;
  std::string detail;
  std::string hint;
};

/// Appends an ErrorResponse ('E') or, with tag 'N', a NoticeResponse.
void write_error_response(std::vector<std::byte>& out, const ErrorFields& e, char tag = 'E');
/// Appends ReadyForQuery with transaction status 'I', 'T' or 'E'.
void write_ready_for_query(std::vector<std::byte>& out, char tx_status);
void write_backend_key_data(std::vector<std::byte>& out, std::uint32_t pid, std::uint32_t secret);
/// CommandComplete with a tag such as "CREATE INDEX".
void write_command_complete(std::vector<std::byte>& out, std::string_view command_tag);
/// The bodiless replies of the extended protocol: ParseComplete, BindComplete, CloseComplete,
/// NoData, EmptyQueryResponse, PortalSuspended (pass the tag, e.g. tag::kParseComplete).
void write_empty_message(std::vector<std::byte>& out, char tag);
/// ParameterDescription listing `type_oids`.
void write_parameter_description(std::vector<std::byte>& out, std::span<const std::uint32_t> type_oids);
/// RowDescription of text columns (type `text`, OID 25, text format): what a result set the
/// proxy builds itself (the admin console's) starts with.
void write_text_row_description(std::vector<std::byte>& out, std::span<const std::string> columns);
/// DataRow of text values; nullopt is SQL NULL.
void write_text_data_row(std::vector<std::byte>& out, std::span<const std::optional<std::string>> values);

std::error_code parse_error_fields(const Frame& f, ErrorFields& out);

/// True when an ErrorResponse has severity FATAL or PANIC (the sender will close). No allocation.
bool is_fatal_error(const Frame& f);
/// The SQLSTATE field ('C') of an ErrorResponse, or "" when absent. No allocation: the view
/// points into the frame.
std::string_view error_sqlstate(const Frame& f);

struct ParameterStatus {
  std::string_view name, value;
};
std::error_code parse_parameter_status(const Frame& f, ParameterStatus& out);

struct BackendKeyData {
  std::uint32_t pid = 0, secret = 0;
};
std::error_code parse_backend_key_data(const Frame& f, BackendKeyData& out);

/// Transaction status byte of a ReadyForQuery frame ('I', 'T', 'E'), 0 if malformed.
char ready_for_query_status(const Frame& f);

/// Authentication request code of an 'R' frame, or -1 if malformed.
std::int64_t auth_request_code(const Frame& f);

/// Rebuilds an AuthenticationSASL frame without the mechanism `drop`.
/// Returns false (and writes nothing) when the frame does not list it.
bool write_sasl_without_mechanism(const Frame& f, std::string_view drop, std::vector<std::byte>& out);

/// Text-format values of a DataRow frame; NULL as nullopt.
std::error_code parse_data_row(const Frame& f, std::vector<std::optional<std::string>>& out);


}  // namespace schemagate::protocol
