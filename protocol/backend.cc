#include "protocol/backend.h"

#include "protocol/errors.h"
#include "protocol/reader.h"
#include "protocol/tags.h"
#include "protocol/writer.h"

namespace schemagate::protocol {

void write_error_response(std::vector<std::byte>& out, const ErrorFields& e, char tag) {
  MessageWriter w(out);
  w.begin(tag);
  // 'S' is the localized severity, 'V' the non-localized one (protocol 3, PG >= 9.6).
  w.u8('S').cstring(e.severity);
  w.u8('V').cstring(e.severity);
  w.u8('C').cstring(e.sqlstate);
  w.u8('M').cstring(e.message);
  if (!e.detail.empty()) w.u8('D').cstring(e.detail);
  if (!e.hint.empty()) w.u8('H').cstring(e.hint);
  w.u8(0).finish();
}

void write_ready_for_query(std::vector<std::byte>& out, char tx_status) {
  MessageWriter(out).begin(tag::kReadyForQuery).u8(static_cast<std::uint8_t>(tx_status)).finish();
}

void write_backend_key_data(std::vector<std::byte>& out, std::uint32_t pid, std::uint32_t secret) {
  MessageWriter(out).begin(tag::kBackendKeyData).u32(pid).u32(secret).finish();
}

void write_command_complete(std::vector<std::byte>& out, std::string_view command_tag) {
  MessageWriter(out).begin(tag::kCommandComplete).cstring(command_tag).finish();
}

void write_empty_message(std::vector<std::byte>& out, char tag) { MessageWriter(out).begin(tag).finish(); }

void write_parameter_description(std::vector<std::byte>& out, std::span<const std::uint32_t> type_oids) {
  MessageWriter w(out);
  w.begin(tag::kParameterDescription).u16(static_cast<std::uint16_t>(type_oids.size()));
  for (const auto oid : type_oids) w.u32(oid);
  w.finish();
}

void write_text_row_description(std::vector<std::byte>& out, std::span<const std::string> columns) {
  constexpr std::uint32_t kTextOid = 25;
  MessageWriter w(out);
  w.begin(tag::kRowDescription).u16(static_cast<std::uint16_t>(columns.size()));
  for (const auto& name : columns) {
    // table OID 0, column 0, type text, variable length (-1), no modifier (-1), text format
    w.cstring(name).u32(0).u16(0).u32(kTextOid).u16(0xFFFF).i32(-1).u16(0);
  }
  w.finish();
}

void write_text_data_row(std::vector<std::byte>& out, std::span<const std::optional<std::string>> values) {
  MessageWriter w(out);
  w.begin(tag::kDataRow).u16(static_cast<std::uint16_t>(values.size()));
  for (const auto& v : values) {
    if (!v) {
      w.i32(-1);
      continue;
    }
    w.u32(static_cast<std::uint32_t>(v->size())).raw(v->data(), v->size());
  }
  w.finish();
}

std::error_code parse_error_fields(const Frame& f, ErrorFields& out) {
  MessageReader r(f.body);
  for (;;) {
    const auto code = r.u8();
    if (!r.ok()) return r.error();
    if (code == 0) break;
    const auto value = r.cstring();
    if (!r.ok()) return r.error();
    switch (code) {
      case 'V': out.severity = value; break;
      case 'S': if (out.severity.empty()) out.severity = value; break;
      case 'C': out.sqlstate = value; break;
      case 'M': out.message = value; break;
      case 'D': out.detail = value; break;
      case 'H': out.hint = value; break;
      default: break;
    }
  }
  return r.at_end() ? std::error_code{} : ProtocolErrc::bad_length;
}

bool is_fatal_error(const Frame& f) {
  MessageReader r(f.body);
  for (;;) {
    const auto code = r.u8();
    if (!r.ok() || code == 0) return false;
    const auto value = r.cstring();
    if (!r.ok()) return false;
    if (code == 'V' || code == 'S') return value == "FATAL" || value == "PANIC";
  }
}

std::string_view error_sqlstate(const Frame& f) {
  MessageReader r(f.body);
  for (;;) {
    const auto code = r.u8();
    if (!r.ok() || code == 0) return {};
    const auto value = r.cstring();
    if (!r.ok()) return {};
    if (code == 'C') return value;
  }
}

std::error_code parse_parameter_status(const Frame& f, ParameterStatus& out) {
  MessageReader r(f.body);
  out.name = r.cstring();
  out.value = r.cstring();
  if (!r.ok()) return r.error();
  return r.at_end() ? std::error_code{} : ProtocolErrc::bad_length;
}

std::error_code parse_backend_key_data(const Frame& f, BackendKeyData& out) {
  MessageReader r(f.body);
  out.pid = r.u32();
  out.secret = r.u32();
  if (!r.ok()) return r.error();
  return r.at_end() ? std::error_code{} : ProtocolErrc::bad_length;
}

char ready_for_query_status(const Frame& f) {
  if (f.body.size() != 1) return 0;
  const char s = static_cast<char>(f.body[0]);
  return (s == 'I' || s == 'T' || s == 'E') ? s : 0;
}

std::int64_t auth_request_code(const Frame& f) {
  MessageReader r(f.body);
  const auto code = r.u32();
  return r.ok() ? std::int64_t(code) : -1;
}

bool write_sasl_without_mechanism(const Frame& f, std::string_view drop, std::vector<std::byte>& out) {
  MessageReader r(f.body);
  if (r.u32() != static_cast<std::uint32_t>(AuthRequest::sasl)) return false;
  std::vector<std::string_view> keep;
  bool found = false;
  for (;;) {
    const auto mech = r.cstring();
    if (!r.ok()) return false;
    if (mech.empty()) break;
    if (mech == drop) found = true;
    else keep.push_back(mech);
  }
  if (!found) return false;
  MessageWriter w(out);
  w.begin(tag::kAuthentication).u32(static_cast<std::uint32_t>(AuthRequest::sasl));
  for (auto m : keep) w.cstring(m);
  w.u8(0).finish();
  return true;
}

std::error_code parse_data_row(const Frame& f, std::vector<std::optional<std::string>>& out) {
  MessageReader r(f.body);
  const auto n = r.u16();
  out.clear();
  for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
    const auto len = r.i32();
    if (len < 0) {
      out.emplace_back(std::nullopt);
      continue;
    }
    const auto bytes = r.bytes(static_cast<std::size_t>(len));
    out.emplace_back(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  if (!r.ok()) return r.error();
  return r.at_end() ? std::error_code{} : ProtocolErrc::bad_length;
}


}  // namespace schemagate::protocol
