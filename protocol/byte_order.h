#pragma once
#include <cstddef>
#include <cstdint>

namespace schemagate::protocol {

/// Reads a big-endian (network order) 32-bit value; no alignment requirement.
inline std::uint32_t load_be32(const std::byte* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}
inline std::uint16_t load_be16(const std::byte* p) {
  return std::uint16_t((std::uint16_t(p[0]) << 8) | std::uint16_t(p[1]));
}
inline void store_be32(std::byte* p, std::uint32_t v) {
  p[0] = std::byte(v >> 24);
  p[1] = std::byte(v >> 16);
  p[2] = std::byte(v >> 8);
  p[3] = std::byte(v);
}

}  // namespace schemagate::protocol
