#include "protocol/reader.h"

#include <cstring>

#include "protocol/byte_order.h"

namespace schemagate::protocol {

std::uint8_t MessageReader::u8() {
  if (remaining() < 1) return fail(ProtocolErrc::truncated), 0;
  return static_cast<std::uint8_t>(body_[pos_++]);
}

std::uint16_t MessageReader::u16() {
  if (remaining() < 2) return fail(ProtocolErrc::truncated), 0;
  const auto v = load_be16(body_.data() + pos_);
  pos_ += 2;
  return v;
}

std::uint32_t MessageReader::u32() {
  if (remaining() < 4) return fail(ProtocolErrc::truncated), 0;
  const auto v = load_be32(body_.data() + pos_);
  pos_ += 4;
  return v;
}

std::string_view MessageReader::cstring() {
  const auto* start = body_.data() + pos_;
  const void* nul = std::memchr(start, 0, remaining());
  if (nul == nullptr) return fail(ProtocolErrc::missing_terminator), std::string_view{};
  const auto n = static_cast<std::size_t>(static_cast<const std::byte*>(nul) - start);
  pos_ += n + 1;
  return {reinterpret_cast<const char*>(start), n};
}

std::span<const std::byte> MessageReader::bytes(std::size_t n) {
  if (remaining() < n) return fail(ProtocolErrc::truncated), std::span<const std::byte>{};
  auto s = body_.subspan(pos_, n);
  pos_ += n;
  return s;
}

}  // namespace schemagate::protocol
