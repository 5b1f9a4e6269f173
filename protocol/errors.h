#pragma once
#include <system_error>

namespace schemagate::protocol {

/// Everything that can be wrong with bytes a peer sent us.
enum class ProtocolErrc {
  ok = 0,
  bad_length,            // length field < 4 (or < 8 for startup packets)
  message_too_large,     // length above the configured cap
  startup_too_large,     // startup packet above kMaxStartupPacket
  unknown_request_code,  // startup packet with an unsupported version / request code
  truncated,             // a field runs past the end of its message
  missing_terminator,    // a string field without its NUL
  interior_nul,          // a NUL inside a field that must not contain one
  unexpected_message,    // valid message in the wrong place
  bad_value,             // a field with an impossible value
};

const std::error_category& protocol_category() noexcept;
std::error_code make_error_code(ProtocolErrc e) noexcept;

}  // namespace schemagate::protocol

template <>
struct std::is_error_code_enum<schemagate::protocol::ProtocolErrc> : std::true_type {};
