#include "proxy/client_request.h"

#include "protocol/tags.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;

void ClientRequest::add(char t, std::size_t wire_size) {
  frames_.push_back(FrameRef{t, static_cast<std::uint32_t>(size_), static_cast<std::uint32_t>(wire_size)});
  size_ += wire_size;
  if (t == tag::kQuery || t == tag::kParse) inspect_ = true;
}

protocol::Frame ClientRequest::frame(std::size_t i, std::span<const std::byte> request_bytes) const {
  const auto& f = frames_.at(i);
  return protocol::Frame{f.tag, request_bytes.subspan(f.offset + 5, f.wire_size - 5), f.wire_size};
}

bool ClientRequest::ends_request(char t) {
  switch (t) {
    case tag::kQuery:
    case tag::kSync:
    case tag::kFlush:
    case tag::kFunctionCall:
    case tag::kCopyData:
    case tag::kCopyDone:
    case tag::kCopyFail:
    case tag::kTerminate:
      return true;
    default:
      return false;
  }
}

}  // namespace schemagate::proxy
