#include "protocol/startup.h"

#include "protocol/errors.h"
#include "protocol/reader.h"
#include "protocol/tags.h"
#include "protocol/writer.h"

namespace schemagate::protocol {

std::string_view StartupPacket::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

std::error_code parse_startup(std::span<const std::byte> packet, StartupPacket& out) {
  MessageReader r(packet);
  const std::uint32_t len = r.u32();
  if (!r.ok() || len != packet.size()) return ProtocolErrc::bad_length;
  const std::uint32_t code = r.u32();
  if (!r.ok()) return r.error();
  out.params.clear();
  switch (code) {
    case kSslRequestCode:
      out.kind = StartupKind::ssl_request;
      return r.at_end() ? std::error_code{} : ProtocolErrc::bad_length;
    case kGssEncRequestCode:
      out.kind = StartupKind::gssenc_request;
      return r.at_end() ? std::error_code{} : ProtocolErrc::bad_length;
    case kCancelRequestCode:
      out.kind = StartupKind::cancel_request;
      out.cancel_pid = r.u32();
      out.cancel_secret = r.u32();
      if (!r.ok()) return r.error();
      return r.at_end() ? std::error_code{} : ProtocolErrc::bad_length;
    default: break;
  }
  out.kind = StartupKind::startup_message;
  out.major = static_cast<std::uint16_t>(code >> 16);
  out.minor = static_cast<std::uint16_t>(code & 0xffff);
  if (out.major != 3) return ProtocolErrc::unknown_request_code;
  // name/value pairs, terminated by an empty name
  for (;;) {
    const auto name = r.cstring();
    if (!r.ok()) return r.error();
    if (name.empty()) break;
    const auto value = r.cstring();
    if (!r.ok()) return r.error();
    out.params.emplace_back(name, value);
  }
  return r.at_end() ? std::error_code{} : ProtocolErrc::bad_length;
}

void write_startup_message(std::vector<std::byte>& out, std::uint16_t minor,
                           std::span<const std::pair<std::string_view, std::string_view>> params) {
  MessageWriter w(out);
  w.begin_untagged().u16(3).u16(minor);
  for (const auto& [name, value] : params) w.cstring(name).cstring(value);
  w.u8(0).finish();
}

}  // namespace schemagate::protocol
