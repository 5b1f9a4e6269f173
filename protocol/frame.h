#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace schemagate::protocol {

/// A complete tagged message inside someone else's buffer: a non-owning view.
struct Frame {
  char tag = 0;
  std::span<const std::byte> body;  // without tag and length
  std::size_t wire_size = 0;        // 1 (tag) + 4 (length) + body.size()
};

}  // namespace schemagate::protocol
