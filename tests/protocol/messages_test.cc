#include <gtest/gtest.h>

#include "protocol/backend.h"
#include "protocol/frame_decoder.h"
#include "protocol/frontend.h"
#include "protocol/tags.h"
#include "protocol/writer.h"
#include "test_bytes.h"

namespace schemagate::protocol {
namespace {

using testing::Bytes;
using testing::msg;
using testing::span;

Frame only_frame(const Bytes& b) {
  FrameDecoder d(1 << 20);
  auto r = d.next(span(b), [](char) { return true; });
  EXPECT_EQ(r.status, DecodeStatus::frame);
  EXPECT_EQ(r.consumed, b.size());
  return r.frame;
}

TEST(Query, ViewsTheSqlInPlace) {
  const auto b = msg('Q', testing::lit("SELECT 1\0"));
  Query q;
  ASSERT_FALSE(parse_query(only_frame(b), q));
  EXPECT_EQ(q.sql, "SELECT 1");
  EXPECT_EQ(q.c_sql[8], '\0');  // libpg_query can read it without a copy
}

TEST(Query, RejectsHiddenNulAndMissingTerminator) {
  Query q;
  EXPECT_EQ(parse_query(only_frame(msg('Q', testing::lit("SELECT 1\0DROP TABLE t\0"))), q),
            ProtocolErrc::interior_nul);
  EXPECT_EQ(parse_query(only_frame(msg('Q', "SELECT 1")), q), ProtocolErrc::missing_terminator);
}

TEST(Parse, ReadsNameAndSql) {
  Bytes b;
  MessageWriter(b).begin(tag::kParse).cstring("stmt1").cstring("INSERT INTO t VALUES ($1)").u16(1).u32(23).finish();
  Parse p;
  ASSERT_FALSE(parse_parse(only_frame(b), p));
  EXPECT_EQ(p.statement, "stmt1");
  EXPECT_EQ(p.sql, "INSERT INTO t VALUES ($1)");
}

TEST(Parse, RejectsTruncatedParameterTypes) {
  Bytes b;
  MessageWriter(b).begin(tag::kParse).cstring("").cstring("SELECT $1").u16(3).u32(23).finish();
  Parse p;
  EXPECT_EQ(parse_parse(only_frame(b), p), ProtocolErrc::truncated);
}

// The one place the proxy takes SQL out of a request: Query and Parse only, nothing from
// other or malformed frames.
TEST(StatementSql, FromQueryAndParseOnly) {
  EXPECT_EQ(statement_sql(only_frame(msg('Q', testing::lit("DROP TABLE t\0")))), "DROP TABLE t");
  Bytes parse;
  MessageWriter(parse).begin(tag::kParse).cstring("s").cstring("CREATE INDEX i ON t (a)").u16(0).finish();
  EXPECT_EQ(statement_sql(only_frame(parse)), "CREATE INDEX i ON t (a)");
  EXPECT_EQ(statement_sql(only_frame(msg('B', testing::lit("\0\0\0\0\0\0\0\0")))), "");
  EXPECT_EQ(statement_sql(only_frame(msg('Q', "no terminator"))), "");
}

TEST(ErrorResponse, RoundTrips) {
  Bytes b;
  write_error_response(b, ErrorFields{"ERROR", "SG001", "rejected", "it locks", "use CONCURRENTLY"});
  ErrorFields e;
  ASSERT_FALSE(parse_error_fields(only_frame(b), e));
  EXPECT_EQ(e.severity, "ERROR");
  EXPECT_EQ(e.sqlstate, "SG001");
  EXPECT_EQ(e.message, "rejected");
  EXPECT_EQ(e.detail, "it locks");
  EXPECT_EQ(e.hint, "use CONCURRENTLY");
}

TEST(ErrorResponse, FatalSeverityIsRecognised) {
  Bytes fatal, error;
  write_error_response(fatal, ErrorFields{"FATAL", "57P01", "terminating connection", {}, {}});
  write_error_response(error, ErrorFields{"ERROR", "42P01", "relation does not exist", {}, {}});
  EXPECT_TRUE(is_fatal_error(only_frame(fatal)));
  EXPECT_FALSE(is_fatal_error(only_frame(error)));
}

TEST(ReadyForQuery, StatusByte) {
  Bytes b;
  write_ready_for_query(b, 'T');
  EXPECT_EQ(ready_for_query_status(only_frame(b)), 'T');
  EXPECT_EQ(ready_for_query_status(only_frame(msg('Z', "X"))), 0);
}

TEST(BackendKeyData, RoundTrips) {
  Bytes b;
  write_backend_key_data(b, 42, 0xabcdef01);
  BackendKeyData k;
  ASSERT_FALSE(parse_backend_key_data(only_frame(b), k));
  EXPECT_EQ(k.pid, 42u);
  EXPECT_EQ(k.secret, 0xabcdef01u);
}

// A TLS-terminating proxy must not offer channel binding: the client would bind to the
// proxy's certificate and the server would refuse.
TEST(AuthenticationSasl, DropsScramPlus) {
  Bytes b;
  MessageWriter(b).begin(tag::kAuthentication).u32(10).cstring("SCRAM-SHA-256-PLUS").cstring("SCRAM-SHA-256").u8(0).finish();
  Bytes out;
  ASSERT_TRUE(write_sasl_without_mechanism(only_frame(b), "SCRAM-SHA-256-PLUS", out));
  Bytes expected;
  MessageWriter(expected).begin(tag::kAuthentication).u32(10).cstring("SCRAM-SHA-256").u8(0).finish();
  EXPECT_EQ(out, expected);
}

TEST(AuthenticationSasl, LeavesOtherListsAlone) {
  Bytes b;
  MessageWriter(b).begin(tag::kAuthentication).u32(10).cstring("SCRAM-SHA-256").u8(0).finish();
  Bytes out;
  EXPECT_FALSE(write_sasl_without_mechanism(only_frame(b), "SCRAM-SHA-256-PLUS", out));
  EXPECT_TRUE(out.empty());
  Bytes md5;
  MessageWriter(md5).begin(tag::kAuthentication).u32(5).raw("salt", 4).finish();
  EXPECT_FALSE(write_sasl_without_mechanism(only_frame(md5), "SCRAM-SHA-256-PLUS", out));
  EXPECT_EQ(auth_request_code(only_frame(md5)), 5);
}

TEST(ParameterStatus, Reads) {
  const auto b = msg('S', testing::lit("server_version\0" "15.4\0"));
  ParameterStatus ps;
  ASSERT_FALSE(parse_parameter_status(only_frame(b), ps));
  EXPECT_EQ(ps.name, "server_version");
  EXPECT_EQ(ps.value, "15.4");
}

}  // namespace
}  // namespace schemagate::protocol
