#include "protocol/frame_decoder.h"

#include <algorithm>

#include "protocol/byte_order.h"

namespace schemagate::protocol {

DecodeResult FrameDecoder::at_frame_start(std::span<const std::byte> input, char t, bool whole) {
  const std::uint32_t len = load_be32(input.data() + 1);
  DecodeResult r;
  if (len < 4) {
    r.status = DecodeStatus::error;
    r.error = ProtocolErrc::bad_length;
    return r;
  }
  const std::size_t wire = std::size_t(len) + 1;
  if (whole) {
    // Check the cap before anyone reserves memory or waits for the body.
    if (len - 4 > max_whole_body_) {
      r.status = DecodeStatus::error;
      r.error = ProtocolErrc::message_too_large;
      return r;
    }
    if (input.size() < wire) return need(wire);
    r.status = DecodeStatus::frame;
    r.tag = t;
    r.frame = Frame{t, input.subspan(5, len - 4), wire};
    r.consumed = wire;
    return r;
  }
  const std::size_t take = std::min(wire, input.size());
  r.status = DecodeStatus::passthrough;
  r.tag = t;
  r.frame_start = true;
  r.consumed = take;
  remaining_ = wire - take;
  passthrough_tag_ = t;
  return r;
}

DecodeResult FrameDecoder::continue_passthrough(std::span<const std::byte> input) {
  if (input.empty()) return need(1);
  DecodeResult r;
  const std::size_t take = std::min(remaining_, input.size());
  r.status = DecodeStatus::passthrough;
  r.tag = passthrough_tag_;
  r.consumed = take;
  remaining_ -= take;
  return r;
}

StartupDecode decode_startup(std::span<const std::byte> input) {
  StartupDecode r;
  if (input.size() < 4) {
    r.size = 4;
    return r;
  }
  const std::uint32_t len = load_be32(input.data());
  if (len < 8) {
    r.status = DecodeStatus::error;
    r.error = ProtocolErrc::bad_length;
    return r;
  }
  if (len > kMaxStartupPacket) {
    r.status = DecodeStatus::error;
    r.error = ProtocolErrc::startup_too_large;
    return r;
  }
  if (input.size() < len) {
    r.size = len;
    return r;
  }
  r.status = DecodeStatus::frame;
  r.size = len;
  return r;
}

}  // namespace schemagate::protocol
