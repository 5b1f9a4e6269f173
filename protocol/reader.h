#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "protocol/errors.h"

namespace schemagate::protocol {

/// Bounds-checked cursor over a message body. Every read checks the remaining size;
/// after the first failure `ok()` is false and every further read returns a zero value.
class MessageReader {
 public:
  explicit MessageReader(std::span<const std::byte> body) : body_(body) {}

  std::uint8_t u8();
  std::uint16_t u16();
  std::uint32_t u32();
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
  /// A NUL-terminated string; the view excludes the NUL.
  std::string_view cstring();
  /// `n` raw bytes.
  std::span<const std::byte> bytes(std::size_t n);

  bool ok() const { return !error_; }
  bool at_end() const { return pos_ == body_.size(); }
  std::size_t remaining() const { return body_.size() - pos_; }
  std::size_t position() const { return pos_; }
  std::error_code error() const { return error_; }

 private:
  bool fail(ProtocolErrc e) {
    if (!error_) error_ = e;
    pos_ = body_.size();
    return false;
  }
  std::span<const std::byte> body_;
  std::size_t pos_ = 0;
  std::error_code error_{};
};

}  // namespace schemagate::protocol
