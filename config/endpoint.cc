#include "config/endpoint.h"

#include <charconv>

namespace schemagate::config {

std::optional<Endpoint> parse_endpoint(std::string_view text, bool allow_port_zero) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  auto host = text.substr(0, colon);
  const auto port_text = text.substr(colon + 1);
  if (host.front() == '[') {  // [::1]:5432
    if (host.size() < 3 || host.back() != ']') return std::nullopt;
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || p != port_text.data() + port_text.size() || (port == 0 && !allow_port_zero) || port > 65535)
    return std::nullopt;
  return Endpoint{std::string(host), static_cast<std::uint16_t>(port)};
}

}  // namespace schemagate::config
