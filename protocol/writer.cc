#include "protocol/writer.h"

#include <cstring>

#include "protocol/byte_order.h"

namespace schemagate::protocol {

MessageWriter& MessageWriter::begin(char tag) {
  out_.push_back(static_cast<std::byte>(tag));
  return begin_untagged();
}

MessageWriter& MessageWriter::begin_untagged() {
  length_at_ = out_.size();
  out_.resize(out_.size() + 4);
  return *this;
}

MessageWriter& MessageWriter::u8(std::uint8_t v) {
  out_.push_back(static_cast<std::byte>(v));
  return *this;
}

MessageWriter& MessageWriter::u16(std::uint16_t v) {
  out_.push_back(static_cast<std::byte>(v >> 8));
  out_.push_back(static_cast<std::byte>(v));
  return *this;
}

MessageWriter& MessageWriter::u32(std::uint32_t v) {
  const auto at = out_.size();
  out_.resize(at + 4);
  store_be32(out_.data() + at, v);
  return *this;
}

MessageWriter& MessageWriter::cstring(std::string_view s) {
  raw(s.data(), s.size());
  return u8(0);
}

MessageWriter& MessageWriter::raw(const void* data, std::size_t n) {
  const auto at = out_.size();
  out_.resize(at + n);
  if (n != 0) std::memcpy(out_.data() + at, data, n);
  return *this;
}

void MessageWriter::finish() {
  store_be32(out_.data() + length_at_, static_cast<std::uint32_t>(out_.size() - length_at_));
}

}  // namespace schemagate::protocol
