#include "protocol/errors.h"

#include <string>

namespace schemagate::protocol {
namespace {

class ProtocolCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pg-protocol"; }
  std::string message(int ev) const override {
    switch (static_cast<ProtocolErrc>(ev)) {
      case ProtocolErrc::ok: return "ok";
      case ProtocolErrc::bad_length: return "invalid message length";
      case ProtocolErrc::message_too_large: return "message exceeds the configured size limit";
      case ProtocolErrc::startup_too_large: return "startup packet too large";
      case ProtocolErrc::unknown_request_code: return "unsupported frontend protocol or request code";
      case ProtocolErrc::truncated: return "message field runs past the end of the message";
      case ProtocolErrc::missing_terminator: return "string field is not NUL-terminated";
      case ProtocolErrc::interior_nul: return "unexpected NUL byte inside a field";
      case ProtocolErrc::unexpected_message: return "unexpected message type";
      case ProtocolErrc::bad_value: return "invalid field value";
    }
    return "unknown protocol error";
  }
};

}  // namespace

const std::error_category& protocol_category() noexcept {
  static const ProtocolCategory category;
  return category;
}

std::error_code make_error_code(ProtocolErrc e) noexcept { return {static_cast<int>(e), protocol_category()}; }

}  // namespace schemagate::protocol
