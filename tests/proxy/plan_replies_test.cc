// synthesize_plan_replies: the replies the proxy gives for a request whose statement it ran as a
// plan (or only prepared), exactly as the server would have given them, and the shapes it
// refuses.
#include <gtest/gtest.h>

#include "protocol/frontend.h"
#include "protocol/tags.h"
#include "protocol/writer.h"
#include "proxy/interceptor.h"

namespace schemagate::proxy {
namespace {

namespace tag = protocol::tag;

/// A request built from frontend messages, with its frame list.
struct Built {
  std::vector<std::byte> bytes;
  ClientRequest request;
  void add(const std::vector<std::byte>& msg) {
    request.add(static_cast<char>(msg[0]), msg.size());
    bytes.insert(bytes.end(), msg.begin(), msg.end());
  }
  RequestView view() const { return RequestView{request, bytes}; }
};

std::vector<std::byte> parse(const std::string& name, const std::string& sql, std::vector<std::uint32_t> types = {}) {
  std::vector<std::byte> out;
  protocol::write_parse(out, name, sql, types);
  return out;
}
std::vector<std::byte> bind(const std::string& statement) {
  std::vector<std::byte> out;
  protocol::MessageWriter(out).begin(tag::kBind).cstring("").cstring(statement).u16(0).u16(0).u16(0).finish();
  return out;
}
std::vector<std::byte> describe(char kind, const std::string& name) {
  std::vector<std::byte> out;
  protocol::MessageWriter(out).begin(tag::kDescribe).u8(static_cast<std::uint8_t>(kind)).cstring(name).finish();
  return out;
}
std::vector<std::byte> execute() {
  std::vector<std::byte> out;
  protocol::MessageWriter(out).begin(tag::kExecute).cstring("").u32(0).finish();
  return out;
}
std::vector<std::byte> sync() {
  std::vector<std::byte> out;
  protocol::write_sync(out);
  return out;
}
/// The tags of the backend messages in `bytes`.
std::string tags_of(const std::vector<std::byte>& bytes) {
  std::string tags;
  for (std::size_t i = 0; i + 5 <= bytes.size();) {
    tags += static_cast<char>(bytes[i]);
    const auto len = (std::to_integer<std::uint32_t>(bytes[i + 1]) << 24) |
                     (std::to_integer<std::uint32_t>(bytes[i + 2]) << 16) |
                     (std::to_integer<std::uint32_t>(bytes[i + 3]) << 8) | std::to_integer<std::uint32_t>(bytes[i + 4]);
    i += 1 + len;
  }
  return tags;
}

TEST(PlanReplies, NamedParseBindExecuteIsAnsweredAndNamed) {
  Built b;
  b.add(parse("S_1", "CREATE INDEX ON t (a)"));
  b.add(bind("S_1"));
  b.add(describe('P', ""));
  b.add(execute());
  b.add(sync());
  std::vector<std::byte> out;
  std::string why;
  PlanRequestShape shape;
  ASSERT_TRUE(synthesize_plan_replies(b.view(), "CREATE INDEX", out, why, &shape)) << why;
  EXPECT_EQ(tags_of(out), "12nC");  // ParseComplete, BindComplete, NoData, CommandComplete
  EXPECT_TRUE(shape.executes);
  EXPECT_EQ(shape.prepared, std::optional<std::string>("S_1"));
  EXPECT_EQ(shape.statement.sql, "CREATE INDEX ON t (a)");
}

TEST(PlanReplies, ParseAndDescribeWithoutExecuteOnlyPrepares) {
  Built b;
  b.add(parse("stmtcache_1", "ALTER TABLE t ADD COLUMN c int DEFAULT $1", {23}));
  b.add(describe('S', "stmtcache_1"));
  b.add(sync());
  std::vector<std::byte> out;
  std::string why;
  PlanRequestShape shape;
  ASSERT_TRUE(synthesize_plan_replies(b.view(), "ALTER TABLE", out, why, &shape)) << why;
  EXPECT_EQ(tags_of(out), "1tn");  // ParseComplete, ParameterDescription, NoData
  EXPECT_FALSE(shape.executes);
  EXPECT_EQ(shape.statement.param_types, std::vector<std::uint32_t>{23});
}

TEST(PlanReplies, AnInlinedParseGetsNoReply) {
  Built b;  // what the session judges for a later Bind of a deferred statement
  b.add(parse("S_1", "CREATE INDEX ON t (a)"));
  b.add(bind("S_1"));
  b.add(execute());
  b.add(sync());
  std::vector<std::byte> out;
  std::string why;
  PlanRequestShape shape;
  ASSERT_TRUE(synthesize_plan_replies(b.view(), "CREATE INDEX", out, why, &shape, 1)) << why;
  EXPECT_EQ(tags_of(out), "2C");
  EXPECT_TRUE(shape.executes);
}

TEST(PlanReplies, RefusesShapesItCannotAnswerFor) {
  std::vector<std::byte> out;
  std::string why;
  {
    Built b;  // bound now, executed later: the portal would be the server's
    b.add(parse("", "CREATE INDEX ON t (a)"));
    b.add(bind(""));
    b.add(sync());
    EXPECT_FALSE(synthesize_plan_replies(b.view(), "CREATE INDEX", out, why));
    EXPECT_NE(why.find("bound to a portal"), std::string::npos) << why;
  }
  {
    Built b;  // two statements in one request
    b.add(parse("", "CREATE INDEX ON t (a)"));
    b.add(bind(""));
    b.add(execute());
    b.add(parse("", "SELECT 1"));
    b.add(bind(""));
    b.add(execute());
    b.add(sync());
    EXPECT_FALSE(synthesize_plan_replies(b.view(), "CREATE INDEX", out, why));
    EXPECT_NE(why.find("shares its message"), std::string::npos) << why;
  }
}

}  // namespace
}  // namespace schemagate::proxy
