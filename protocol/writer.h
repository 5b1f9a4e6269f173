#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace schemagate::protocol {

/// Appends protocol messages to a byte vector; the length field is filled in by finish().
///
///   MessageWriter w(out);
///   w.begin(tag::kReadyForQuery).u8('I').finish();
class MessageWriter {
 public:
  explicit MessageWriter(std::vector<std::byte>& out) : out_(out) {}

  MessageWriter& begin(char tag);
  /// Untagged (startup-phase) packet: only the Int32 length.
  MessageWriter& begin_untagged();
  MessageWriter& u8(std::uint8_t v);
  MessageWriter& u16(std::uint16_t v);
  MessageWriter& u32(std::uint32_t v);
  MessageWriter& i32(std::int32_t v) { return u32(static_cast<std::uint32_t>(v)); }
  MessageWriter& cstring(std::string_view s);  // appends s and a NUL
  MessageWriter& raw(const void* data, std::size_t n);
  void finish();

 private:
  std::vector<std::byte>& out_;
  std::size_t length_at_ = 0;
};

}  // namespace schemagate::protocol
