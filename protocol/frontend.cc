#include "protocol/frontend.h"

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
  const auto ntypes = r.u16();
  r.bytes(std::size_t(ntypes) * 4);
  if (!r.ok()) return r.error();
  if (!r.at_end()) return ProtocolErrc::bad_length;
  out.c_sql = out.sql.data();
  return {};
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

}  // namespace schemagate::protocol
