// The admin console's language (proxy/console/command.h): what psql users type.
#include <gtest/gtest.h>

#include "proxy/console/command.h"

namespace schemagate::proxy::console {
namespace {

Command one(std::string_view text) {
  const auto s = parse_script(text);
  EXPECT_TRUE(s.error.empty()) << text << ": " << s.error;
  EXPECT_EQ(s.commands.size(), 1u) << text;
  return s.commands.empty() ? Command{} : s.commands[0];
}

std::string error_of(std::string_view text) {
  const auto s = parse_script(text);
  EXPECT_TRUE(s.commands.empty()) << text;
  return s.error;
}

TEST(ConsoleCommand, KeywordsAreCaseInsensitiveAndTheSemicolonOptional) {
  EXPECT_EQ(one("SHOW CLIENTS").verb, Verb::show_clients);
  EXPECT_EQ(one("show servers;").verb, Verb::show_servers);
  EXPECT_EQ(one("  Show Stats ; ").verb, Verb::show_stats);
  EXPECT_EQ(one("show config").verb, Verb::show_config);
  EXPECT_EQ(one("SHOW VERSION").verb, Verb::show_version);
  EXPECT_EQ(one("show migrations").verb, Verb::show_migrations);
  EXPECT_EQ(one("reload").verb, Verb::reload);
  EXPECT_EQ(one("PAUSE").verb, Verb::pause);
  EXPECT_EQ(one("resume -- after the incident").verb, Verb::resume);
}

TEST(ConsoleCommand, RequestsTakeAnOptionalStatusAndRequestAnId) {
  EXPECT_EQ(one("SHOW REQUESTS").argument, "");
  EXPECT_EQ(one("SHOW REQUESTS pending").argument, "pending");
  EXPECT_EQ(one("SHOW REQUESTS APPROVED").argument, "approved");
  const auto r = one("SHOW REQUEST '0a1b2c3d4e5f6789'");
  EXPECT_EQ(r.verb, Verb::show_request);
  EXPECT_EQ(r.argument, "0a1b2c3d4e5f6789");
  EXPECT_EQ(one("show request 0A1B2C3D4E5F6789").argument, "0a1b2c3d4e5f6789") << "unquoted ids are lower-cased";
  EXPECT_NE(error_of("SHOW REQUEST").find("needs a request id"), std::string::npos);
}

TEST(ConsoleCommand, ApproveAndDenyCarryReasonsWithQuotes) {
  const auto a = one("APPROVE 'abc' REASON 'it''s ticket 7'");
  EXPECT_EQ(a.verb, Verb::approve);
  EXPECT_EQ(a.argument, "abc");
  EXPECT_EQ(a.reason, "it's ticket 7");
  EXPECT_EQ(one("approve 'abc'").reason, "");
  // A backslash is an ordinary character (standard strings), so it cannot end the string.
  EXPECT_EQ(one("DENY 'abc' REASON 'C:\\temp\\'").reason, "C:\\temp\\");
  EXPECT_NE(error_of("DENY 'abc'").find("non-empty reason"), std::string::npos);
  EXPECT_NE(error_of("DENY 'abc' REASON ''").find("non-empty reason"), std::string::npos);
  EXPECT_NE(error_of("APPROVE 'abc' REASON").find("quoted string"), std::string::npos);
}

TEST(ConsoleCommand, SeveralCommandsInOneQuery) {
  const auto s = parse_script("SHOW VERSION; SHOW STATS;;RELOAD");
  ASSERT_TRUE(s.error.empty()) << s.error;
  ASSERT_EQ(s.commands.size(), 3u);
  EXPECT_EQ(s.commands[2].verb, Verb::reload);
  EXPECT_TRUE(parse_script(" ; ;").commands.empty());
  EXPECT_TRUE(parse_script("").error.empty());
}

TEST(ConsoleCommand, AnythingElseIsAnErrorThatSaysWhat) {
  EXPECT_NE(error_of("SELECT 1").find("unknown command \"SELECT\""), std::string::npos);
  EXPECT_NE(error_of("SHOW TABLES").find("unknown SHOW target \"TABLES\""), std::string::npos);
  EXPECT_NE(error_of("SHOW").find("SHOW needs what to show"), std::string::npos);
  EXPECT_NE(error_of("RELOAD now").find("unexpected \"NOW\""), std::string::npos);
  EXPECT_NE(error_of("SHOW REQUEST 'abc").find("unterminated quoted string"), std::string::npos);
  EXPECT_NE(error_of("SHOW STATS SHOW STATS").find("unexpected"), std::string::npos);
  EXPECT_NE(error_of("PAUSE; DROP TABLE t").find("unknown command \"DROP\""), std::string::npos)
      << "one bad command refuses the whole query: nothing runs";
  EXPECT_NE(error_of("SHOW \"x\"").find("syntax error"), std::string::npos);
}

}  // namespace
}  // namespace schemagate::proxy::console
