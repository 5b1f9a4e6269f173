#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "protocol/errors.h"
#include "protocol/frame.h"

namespace schemagate::protocol {

/// What FrameDecoder::next found at the start of its input.
enum class DecodeStatus {
  frame,        // a complete frame; `frame.wire_size` bytes consumed
  passthrough,  // `consumed` bytes of a frame the caller does not need whole (may be a prefix)
  need_more,    // nothing consumed; at least `needed` bytes must be available to make progress
  error,        // malformed input; the stream cannot be resynchronised
};

struct DecodeResult {
  DecodeStatus status = DecodeStatus::need_more;
  Frame frame{};                // status == frame
  char tag = 0;                 // status == frame or passthrough
  bool frame_start = false;     // passthrough: these bytes begin a new frame (tag + length included)
  std::size_t consumed = 0;     // frame or passthrough
  std::size_t needed = 0;       // need_more: total bytes (from the start of input) required
  std::error_code error{};      // error
};

/// Incremental framing of a tagged message stream (everything after startup).
///
/// Never reads a socket: it is handed the bytes not yet scanned, and says what they are.
/// Frames the caller wants whole are returned only once complete; other frames are handed
/// out as they arrive (PgBouncer's "send n bytes" idea), so a 500 MB DataRow or CopyData
/// passes through a small buffer. The length field is checked against the cap before the
/// caller is asked to buffer anything.
///
/// States: at a frame boundary, or inside a passthrough frame with `remaining_` bytes to go.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::uint32_t max_whole_body) : max_whole_body_(max_whole_body) {}

  /// `wants_whole(tag)` tells whether a frame with this tag must be returned complete.
  template <class WantsWhole>
  DecodeResult next(std::span<const std::byte> input, WantsWhole&& wants_whole) {
    if (remaining_ > 0) return continue_passthrough(input);
    if (input.size() < 5) return need(5);
    const char t = static_cast<char>(input[0]);
    return at_frame_start(input, t, wants_whole(t));
  }

  /// True when the decoder is between frames (not inside a passthrough frame).
  bool at_boundary() const { return remaining_ == 0; }

  void reset() { remaining_ = 0; }

 private:
  DecodeResult at_frame_start(std::span<const std::byte> input, char t, bool whole);
  DecodeResult continue_passthrough(std::span<const std::byte> input);
  static DecodeResult need(std::size_t n) {
    DecodeResult r;
    r.needed = n;
    return r;
  }

  std::uint32_t max_whole_body_;
  std::size_t remaining_ = 0;  // bytes of the current passthrough frame not yet handed out
  char passthrough_tag_ = 0;
};

/// Status of an untagged startup-phase packet at the start of `input`.
struct StartupDecode {
  DecodeStatus status = DecodeStatus::need_more;  // frame, need_more or error
  std::size_t size = 0;                           // frame: whole packet; need_more: bytes needed
  std::error_code error{};
};

/// PostgreSQL's own limit for a startup packet (MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::uint32_t kMaxStartupPacket = 10000;

/// Frames a startup packet (Int32 length including itself, then payload).
StartupDecode decode_startup(std::span<const std::byte> input);

}  // namespace schemagate::protocol
