#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/frame.h"

namespace schemagate::proxy {

/// The frames of one client request, held until it is complete (pgdog's ClientRequest).
/// A request ends with Query, Sync, Flush, FunctionCall, CopyData/CopyDone/CopyFail or
/// Terminate; a DDL statement sent with Parse/Bind/Execute is only judged — and only
/// reaches the server — once its Sync (or Flush) has arrived.
/// Frames are stored as offsets into the session's receive buffer (which may move between
/// reads); the vector is reused across requests, so steady state allocates nothing.
class ClientRequest {
 public:
  struct FrameRef {
    char tag;
    std::uint32_t offset;  // from the start of the request
    std::uint32_t wire_size;
  };

  ClientRequest() { frames_.reserve(8); }

  void clear() {
    frames_.clear();
    size_ = 0;
    inspect_ = false;
  }
  void add(char tag, std::size_t wire_size);

  bool empty() const { return frames_.empty(); }
  std::size_t size() const { return size_; }
  /// Tag of the last frame (the one that completed the request).
  char terminator() const { return frames_.empty() ? 0 : frames_.back().tag; }
  /// True when the request carries SQL text (Query or Parse) the interceptor must see.
  bool needs_inspection() const { return inspect_; }
  const std::vector<FrameRef>& frames() const { return frames_; }
  /// Frame i as a view into `request_bytes` (the request's bytes, starting at its first frame).
  protocol::Frame frame(std::size_t i, std::span<const std::byte> request_bytes) const;

  static bool ends_request(char tag);

 private:
  std::vector<FrameRef> frames_;
  std::size_t size_ = 0;
  bool inspect_ = false;
};

/// A complete request as the interceptor sees it: frames plus their bytes.
struct RequestView {
  const ClientRequest& request;
  std::span<const std::byte> bytes;
  protocol::Frame frame(std::size_t i) const { return request.frame(i, bytes); }
  std::size_t frame_count() const { return request.frames().size(); }
};

}  // namespace schemagate::proxy
