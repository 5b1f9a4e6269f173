#include "protocol/startup.h"

#include <gtest/gtest.h>

#include "protocol/errors.h"
#include "protocol/byte_order.h"
#include "protocol/tags.h"
#include "protocol/writer.h"
#include "test_bytes.h"

namespace schemagate::protocol {
namespace {

using testing::Bytes;
using testing::span;

Bytes startup(std::uint32_t version, std::initializer_list<std::pair<const char*, const char*>> params) {
  Bytes out;
  MessageWriter w(out);
  w.begin_untagged().u32(version);
  for (auto [k, v] : params) w.cstring(k).cstring(v);
  w.u8(0).finish();
  return out;
}

TEST(ParseStartup, ReadsParameters) {
  const auto b = startup(kProtocolVersion3, {{"user", "app"}, {"database", "shop"}, {"application_name", "psql"}});
  StartupPacket p;
  ASSERT_FALSE(parse_startup(span(b), p));
  EXPECT_EQ(p.kind, StartupKind::startup_message);
  EXPECT_EQ(p.major, 3);
  EXPECT_EQ(p.minor, 0);
  EXPECT_EQ(p.param("user"), "app");
  EXPECT_EQ(p.param("database"), "shop");
  EXPECT_EQ(p.param("application_name"), "psql");
  EXPECT_EQ(p.param("options"), "");
}

// Minor versions and _pq_ options are the server's to negotiate (NegotiateProtocolVersion).
TEST(ParseStartup, AcceptsNewerMinorVersion) {
  const auto b = startup((3u << 16) | 2u, {{"user", "u"}, {"_pq_.something", "1"}});
  StartupPacket p;
  ASSERT_FALSE(parse_startup(span(b), p));
  EXPECT_EQ(p.minor, 2);
}

TEST(ParseStartup, RejectsProtocol2) {
  const auto b = startup(2u << 16, {{"user", "u"}});
  StartupPacket p;
  EXPECT_EQ(parse_startup(span(b), p), ProtocolErrc::unknown_request_code);
}

TEST(ParseStartup, RejectsUnterminatedParameter) {
  auto b = startup(kProtocolVersion3, {{"user", "u"}});
  b.pop_back();  // drop the list terminator
  b.back() = std::byte{'x'};  // and the value's NUL
  store_be32(b.data(), static_cast<std::uint32_t>(b.size()));
  StartupPacket p;
  EXPECT_TRUE(parse_startup(span(b), p));
}

TEST(ParseStartup, SpecialRequests) {
  Bytes ssl, gss, cancel;
  MessageWriter(ssl).begin_untagged().u32(kSslRequestCode).finish();
  MessageWriter(gss).begin_untagged().u32(kGssEncRequestCode).finish();
  MessageWriter(cancel).begin_untagged().u32(kCancelRequestCode).u32(1234).u32(0xdeadbeef).finish();
  StartupPacket p;
  ASSERT_FALSE(parse_startup(span(ssl), p));
  EXPECT_EQ(p.kind, StartupKind::ssl_request);
  ASSERT_FALSE(parse_startup(span(gss), p));
  EXPECT_EQ(p.kind, StartupKind::gssenc_request);
  ASSERT_FALSE(parse_startup(span(cancel), p));
  EXPECT_EQ(p.kind, StartupKind::cancel_request);
  EXPECT_EQ(p.cancel_pid, 1234u);
  EXPECT_EQ(p.cancel_secret, 0xdeadbeefu);
}

TEST(ParseStartup, RejectsTrailingBytesInSslRequest) {
  Bytes ssl;
  MessageWriter(ssl).begin_untagged().u32(kSslRequestCode).u32(0).finish();
  StartupPacket p;
  EXPECT_EQ(parse_startup(span(ssl), p), ProtocolErrc::bad_length);
}

}  // namespace
}  // namespace schemagate::protocol
