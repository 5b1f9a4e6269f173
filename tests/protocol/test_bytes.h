#pragma once
// Helpers to build protocol bytes by hand in tests (Envoy's createPostgresMsg idea).
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/writer.h"

namespace schemagate::protocol::testing {

using Bytes = std::vector<std::byte>;

/// A tagged message with a raw body.
inline Bytes msg(char tag, std::string_view body) {
  Bytes out;
  MessageWriter(out).begin(tag).raw(body.data(), body.size()).finish();
  return out;
}

/// A string literal with embedded NULs, without the literal's own terminator.
template <std::size_t N>
std::string lit(const char (&s)[N]) {
  return std::string(s, N - 1);
}

inline void append(Bytes& to, const Bytes& what) { to.insert(to.end(), what.begin(), what.end()); }

inline std::span<const std::byte> span(const Bytes& b) { return {b.data(), b.size()}; }

inline std::string str(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

}  // namespace schemagate::protocol::testing
