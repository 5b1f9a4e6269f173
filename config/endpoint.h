#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace schemagate::config {

/// host:port as given on the command line ("127.0.0.1:6432", "[::1]:5432", "db:5432").
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};

/// Parses host:port; nullopt when the port is missing or not 1-65535 (0-65535 with `allow_port_zero`).
std::optional<Endpoint> parse_endpoint(std::string_view text, bool allow_port_zero = false);

}  // namespace schemagate::config
