#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace schemagate::protocol {

/// The kinds of untagged packet a client can open a connection with.
enum class StartupKind { startup_message, ssl_request, gssenc_request, cancel_request };

/// A parsed startup-phase packet: a view into the caller's buffer.
struct StartupPacket {
  StartupKind kind = StartupKind::startup_message;
  std::uint16_t major = 0, minor = 0;                                 // startup_message
  std::vector<std::pair<std::string_view, std::string_view>> params;  // startup_message
  std::uint32_t cancel_pid = 0, cancel_secret = 0;                    // cancel_request

  /// Value of a startup parameter ("user", "database", ...), empty if absent.
  std::string_view param(std::string_view name) const;
};

/// Parses one complete startup packet (as framed by decode_startup, length included).
/// Protocol 3.x with any minor version is accepted: negotiation is the server's job.
std::error_code parse_startup(std::span<const std::byte> packet, StartupPacket& out);

/// A StartupMessage (protocol 3.`minor`) with these parameters, in order.
void write_startup_message(std::vector<std::byte>& out, std::uint16_t minor,
                           std::span<const std::pair<std::string_view, std::string_view>> params);

}  // namespace schemagate::protocol
