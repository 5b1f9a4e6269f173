#include "protocol/frontend.h"

#include "protocol/byte_order.h"

#include "protocol/errors.h"
#include "protocol/reader.h"
#include "protocol/tags.h"
#include "protocol/writer.h"

namespace schemagate::protocol {

std::error_code parse_query(const Frame& f, Query& out) {
  if (f.tag != tag::kQuery) return ProtocolErrc::unexpected_message;
  MessageReader r(f.body);
  out.sql = r.cstring();
  if (!r.ok()) return r.error();
  if (!r.at_end()) return ProtocolErrc::interior_nul;
  out.c_sql = out.sql.data();
  return {};
}

std::error_code parse_parse(const Frame& f, Parse& out) {
  if (f.tag != tag::kParse) return ProtocolErrc::unexpected_message;
  MessageReader r(f.body);
  out.statement = r.cstring();
  out.sql = r.cstring();
  out.param_count = r.u16();
  out.param_type_bytes = r.bytes(std::size_t(out.param_count) * 4);
  if (!r.ok()) return r.error();
  if (!r.at_end()) return ProtocolErrc::bad_length;
  out.c_sql = out.sql.data();
  return {};
}

std::uint32_t Parse::param_type(std::size_t i) const {
  return load_be32(param_type_bytes.data() + i * 4);
}

std::error_code parse_bind(const Frame& f, Bind& out) {
  if (f.tag != tag::kBind) return ProtocolErrc::unexpected_message;
  MessageReader r(f.body);
  out.portal = r.cstring();
  out.statement = r.cstring();
  return r.ok() ? std::error_code{} : r.error();
}

namespace {
std::error_code parse_target(const Frame& f, char expected_tag, DescribeTarget& out) {
  if (f.tag != expected_tag) return ProtocolErrc::unexpected_message;
  MessageReader r(f.body);
  out.kind = static_cast<char>(r.u8());
  out.name = r.cstring();
  if (!r.ok()) return r.error();
  if (!r.at_end() || (out.kind != 'S' && out.kind != 'P')) return ProtocolErrc::bad_length;
  return {};
}
}  // namespace

std::error_code parse_describe(const Frame& f, DescribeTarget& out) { return parse_target(f, tag::kDescribe, out); }
std::error_code parse_close(const Frame& f, DescribeTarget& out) { return parse_target(f, tag::kClose, out); }

std::error_code parse_execute(const Frame& f, Execute& out) {
  if (f.tag != tag::kExecute) return ProtocolErrc::unexpected_message;
  MessageReader r(f.body);
  out.portal = r.cstring();
  out.max_rows = r.u32();
  if (!r.ok()) return r.error();
  return r.at_end() ? std::error_code{} : ProtocolErrc::bad_length;
}

std::string_view statement_sql(const Frame& f) {
  if (f.tag == tag::kQuery) {
    Query q;
    return parse_query(f, q) ? std::string_view{} : q.sql;
  }
  if (f.tag == tag::kParse) {
    Parse p;
    return parse_parse(f, p) ? std::string_view{} : p.sql;
  }
  return {};
}

void write_query(std::vector<std::byte>& out, std::string_view sql) {
  MessageWriter(out).begin(tag::kQuery).cstring(sql).finish();
}

void write_parse(std::vector<std::byte>& out, std::string_view statement, std::string_view sql,
                 std::span<const std::uint32_t> param_types) {
  MessageWriter w(out);
  w.begin(tag::kParse).cstring(statement).cstring(sql).u16(static_cast<std::uint16_t>(param_types.size()));
  for (const auto t : param_types) w.u32(t);
  w.finish();
}

void write_sync(std::vector<std::byte>& out) { MessageWriter(out).begin(tag::kSync).finish(); }

void write_close(std::vector<std::byte>& out, char kind, std::string_view name) {
  MessageWriter(out).begin(tag::kClose).u8(static_cast<std::uint8_t>(kind)).cstring(name).finish();
}

void write_execute(std::vector<std::byte>& out, std::string_view portal, std::uint32_t max_rows) {
  MessageWriter(out).begin(tag::kExecute).cstring(portal).u32(max_rows).finish();
}

}  // namespace schemagate::protocol
