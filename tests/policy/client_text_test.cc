// Reading a message as the server will: standard_conforming_strings and client-only encodings.
// Each attack text below is one that PostgreSQL really runs as two statements under the
// setting named (tests/integration/bypass_settings_test.cc proves it against a server).
#include "policy/client_text.h"

#include <gtest/gtest.h>

#include "policy/engine.h"
#include "policy/pre_classifier.h"

namespace schemagate::policy {
namespace {

// SJIS 0x95 0x5c is 表 (U+8868): its second byte is a backslash in ASCII.
const std::string kSjisHyo = "\x95\x5c";
const std::string kUtf8Hyo = "\xE8\xA1\xA8";

SessionInfo session(bool scs, ClientEncoding enc = ClientEncoding::ascii_safe, bool may_change = false) {
  SessionInfo s;
  s.user = "app";
  s.lock_timeout_set = true;
  s.lexical.standard_conforming_strings = scs;
  s.lexical.encoding = enc;
  s.replies_pending = may_change;
  return s;
}

bool has_drop(const BatchDecision& d) {
  for (const auto& s : d.statements)
    if (s.statement.tag == "DROP TABLE") return true;
  return false;
}

TEST(ClientEncodingNames, ClientOnlyEncodingsAreRecognisedAndOthersAreAsciiSafe) {
  EXPECT_EQ(client_encoding_named("SJIS"), ClientEncoding::sjis);
  EXPECT_EQ(client_encoding_named("sjis"), ClientEncoding::sjis);
  EXPECT_EQ(client_encoding_named("WIN932"), ClientEncoding::sjis);
  EXPECT_EQ(client_encoding_named("BIG5"), ClientEncoding::big5);
  EXPECT_EQ(client_encoding_named("GBK"), ClientEncoding::gbk);
  EXPECT_EQ(client_encoding_named("UHC"), ClientEncoding::uhc);
  EXPECT_EQ(client_encoding_named("GB18030"), ClientEncoding::gb18030);
  EXPECT_EQ(client_encoding_named("SHIFT_JIS_2004"), ClientEncoding::shift_jis_2004);
  EXPECT_EQ(client_encoding_named("UTF8"), ClientEncoding::ascii_safe);
  EXPECT_EQ(client_encoding_named("EUC_JP"), ClientEncoding::ascii_safe);
  EXPECT_EQ(client_encoding_named(""), ClientEncoding::ascii_safe);
  EXPECT_STREQ(encoding_name(ClientEncoding::gbk), "GBK");
}

TEST(ServerText, AsciiSafeEncodingsAndAsciiTextAreNotConverted) {
  const auto a = to_server_text("SELECT '" + kUtf8Hyo + "'", ClientEncoding::ascii_safe);
  EXPECT_FALSE(a.converted);
  EXPECT_EQ(a.text, "SELECT '" + kUtf8Hyo + "'");
  const auto b = to_server_text("SELECT 1", ClientEncoding::sjis);
  EXPECT_FALSE(b.converted);
  EXPECT_EQ(b.to_client(5), 5u);
}

TEST(ServerText, SjisSecondByteBackslashBecomesPartOfTheCharacter) {
  const std::string in = "SELECT E'" + kSjisHyo + "'; SELECT 1";
  const auto t = to_server_text(in, ClientEncoding::sjis);
  ASSERT_FALSE(t.error) << *t.error;
  EXPECT_TRUE(t.converted);
  EXPECT_FALSE(t.lossy);
  EXPECT_EQ(t.text, "SELECT E'" + kUtf8Hyo + "'; SELECT 1");
  // Offsets after the character map back by the length difference (3 UTF-8 bytes for 2).
  const std::size_t second = t.text.find("SELECT 1");
  EXPECT_EQ(t.to_client(second), in.find("SELECT 1"));
  EXPECT_EQ(t.to_client(9), 9u);        // the character's first byte
  EXPECT_EQ(t.to_client(10), 9u);       // inside it: its start
  EXPECT_EQ(t.to_client(12), 11u);      // the closing quote
  const StatementSpan s = t.to_client(StatementSpan{second, 8});
  EXPECT_EQ(s.offset, in.find("SELECT 1"));
  EXPECT_EQ(s.length, 8u);
}

TEST(ServerText, EveryClientOnlyEncodingFollowsPostgresBoundaries) {
  // BIG5/GBK/UHC: a high byte and any non-NUL next byte are one character.
  for (auto e : {ClientEncoding::big5, ClientEncoding::gbk, ClientEncoding::uhc}) {
    const auto t = to_server_text("E'\xA4\x5c'", e);
    ASSERT_FALSE(t.error) << encoding_name(e) << ": " << *t.error;
    EXPECT_EQ(t.text.find('\\'), std::string::npos) << encoding_name(e);
    EXPECT_EQ(t.text.back(), '\'');
  }
  // GB18030: four bytes when the second is a digit, else two.
  const auto g4 = to_server_text("'\x81\x30\x81\x30'", ClientEncoding::gb18030);
  ASSERT_FALSE(g4.error);
  EXPECT_EQ(g4.text, "'\xC2\x80'");  // GB18030 0x81308130 is U+0080
  const auto g2 = to_server_text("E'\x81\x5c'", ClientEncoding::gb18030);
  ASSERT_FALSE(g2.error);
  EXPECT_EQ(g2.text.find('\\'), std::string::npos);
  // SJIS half-width katakana is one byte.
  const auto k = to_server_text("'\xB1'", ClientEncoding::sjis);
  ASSERT_FALSE(k.error);
  EXPECT_EQ(k.text, "'\xEF\xBD\xB1'");  // U+FF71
}

TEST(ServerText, InvalidSequencesAreErrorsAsOnTheServer) {
  const auto t = to_server_text("SELECT '\x81", ClientEncoding::sjis);  // truncated
  ASSERT_TRUE(t.error);
  EXPECT_NE(t.error->find("SJIS"), std::string::npos);
  EXPECT_NE(t.error->find("0x81"), std::string::npos);
  EXPECT_TRUE(to_server_text("'\x81\x20'", ClientEncoding::sjis).error);  // 0x20 is no SJIS trail byte
  EXPECT_TRUE(to_server_text("'\xA4\x5c'", ClientEncoding::johab).error);  // JOHAB trails are 0xa1–0xfe
}

TEST(PreClassifier, BackslashAfterAHighByteInAnEscapeStringIsNeverFastPath) {
  EXPECT_TRUE(might_change_schema("SELECT E'" + kSjisHyo + "'; DROP TABLE t; --'"));
  EXPECT_TRUE(might_change_schema("SELECT 'a\\''; DROP TABLE t; --'"));
  EXPECT_FALSE(might_change_schema("SELECT E'a\\'; DROP TABLE t; --'"));  // same under every setting
}

// ---------------------------------------------------------------- standard_conforming_strings

// Under scs off the backslash escapes the quote: the string ends one quote later.
const std::string kScsOffAttack = "SELECT 'a\\''; DROP TABLE t; --'";
// Under scs on the backslash is a character: the string ends at the second quote.
const std::string kScsOnAttack = "SELECT 'a\\'; DROP TABLE t; --'";

TEST(EngineReading, StandardConformingStringsOffIsReadAsTheServerReadsIt) {
  PolicyEngine engine{config::Policy{}};
  const auto off = engine.evaluate(kScsOffAttack, session(false), nullptr);
  EXPECT_EQ(off.outcome, Outcome::hold);
  EXPECT_TRUE(has_drop(off));
  const auto on = engine.evaluate(kScsOffAttack, session(true), nullptr);
  EXPECT_EQ(on.outcome, Outcome::pass);  // one string: a lookalike under scs on
  EXPECT_FALSE(has_drop(on));
}

TEST(EngineReading, LookalikesPassUnderTheSettingThatMakesThemStrings) {
  PolicyEngine engine{config::Policy{}};
  EXPECT_EQ(engine.evaluate(kScsOnAttack, session(true), nullptr).outcome, Outcome::hold);
  const auto off = engine.evaluate(kScsOnAttack, session(false), nullptr);
  EXPECT_EQ(off.outcome, Outcome::pass);
  EXPECT_FALSE(has_drop(off));
  // The parse cache keeps the two readings apart.
  EXPECT_EQ(engine.evaluate(kScsOnAttack, session(true), nullptr).outcome, Outcome::hold);
}

TEST(EngineReading, FingerprintsAndSpansUseTheServersReading) {
  PolicyEngine engine{config::Policy{}};
  const auto d = engine.evaluate(kScsOffAttack, session(false), nullptr);
  ASSERT_EQ(d.statements.size(), 2u);
  EXPECT_EQ(d.statements[1].statement.text, "DROP TABLE t");
  EXPECT_EQ(d.statements[0].statement.span.length, kScsOffAttack.find(';'));
  EXPECT_TRUE(d.statements[1].fingerprint.has_value());
  EXPECT_TRUE(standard_conforming_strings_in_effect());  // the scope ended with the call
}

// ---------------------------------------------------------------- client-only encodings

const std::string kSjisAttack = "SELECT E'" + kSjisHyo + "'; DROP TABLE t; --'";

TEST(EngineReading, SjisSwallowsTheBackslashAndTheDropIsSeen) {
  PolicyEngine engine{config::Policy{}};
  const auto sjis = engine.evaluate(kSjisAttack, session(true, ClientEncoding::sjis), nullptr);
  EXPECT_EQ(sjis.outcome, Outcome::hold);
  ASSERT_EQ(sjis.statements.size(), 2u);
  EXPECT_EQ(sjis.statements[1].statement.text, "DROP TABLE t");
  // Span in the client's bytes: where the DROP starts in what the client sent.
  EXPECT_EQ(sjis.statements[1].statement.span.offset + 1, kSjisAttack.find("DROP"));
  for (auto e : {ClientEncoding::big5, ClientEncoding::gbk, ClientEncoding::gb18030})
    EXPECT_EQ(engine.evaluate("SELECT E'\x81\x5c'; DROP TABLE t; --'", session(true, e), nullptr).outcome,
              Outcome::hold)
        << encoding_name(e);
  // In UTF8 the same bytes are one string (and invalid UTF-8 the server would refuse anyway).
  EXPECT_FALSE(has_drop(engine.evaluate(kSjisAttack, session(true), nullptr)));
}

TEST(EngineReading, InvalidBytesInTheClientEncodingAreRefused) {
  PolicyEngine engine{config::Policy{}};
  const auto d = engine.evaluate("DROP TABLE \"\x81\"", session(true, ClientEncoding::sjis), nullptr);
  EXPECT_EQ(d.outcome, Outcome::reject);
  ASSERT_EQ(d.statements.size(), 1u);
  EXPECT_EQ(d.statements[0].rule_ids, std::vector<std::string>{"unreadable_text"});
  EXPECT_NE(d.statements[0].message.find("SJIS"), std::string::npos);
}

TEST(EngineReading, NoRewritePlanForNonAsciiTextInAClientOnlyEncoding) {
  PolicyEngine engine{config::Policy{}};
  const auto d = engine.evaluate("CREATE INDEX ON \"" + kSjisHyo + "\" (a)", session(true, ClientEncoding::sjis), nullptr);
  EXPECT_EQ(d.outcome, Outcome::reject);
  ASSERT_EQ(d.statements.size(), 1u);
  EXPECT_NE(d.statements[0].message.find("client_encoding SJIS"), std::string::npos);
  EXPECT_FALSE(d.statements[0].plan);
  // ASCII names still get their plan.
  EXPECT_EQ(engine.evaluate("CREATE INDEX ON t (a)", session(true, ClientEncoding::sjis), nullptr).outcome,
            Outcome::rewrite);
}

TEST(EngineReading, ReferencedTablesSkipNamesTheProxyCannotSpell) {
  PolicyEngine engine{config::Policy{}};
  LexicalSettings sjis{true, ClientEncoding::sjis};
  const auto t = engine.referenced_tables("ALTER TABLE \"" + kSjisHyo + "\" ADD COLUMN a int; ALTER TABLE u ADD b int",
                                          sjis);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].name, "u");
}

// ---------------------------------------------------------------- settings in flight

TEST(EngineReading, AmbiguousTextWhileASettingMayChangeIsRefused) {
  PolicyEngine engine{config::Policy{}};
  for (const auto& text : {kScsOffAttack, kScsOnAttack, kSjisAttack}) {
    const auto d = engine.evaluate(text, session(true, ClientEncoding::ascii_safe, true), nullptr);
    EXPECT_EQ(d.outcome, Outcome::reject) << text;
    ASSERT_EQ(d.statements.size(), 1u);
    EXPECT_EQ(d.statements[0].rule_ids, std::vector<std::string>{"unreadable_text"});
    EXPECT_EQ(d.statements[0].sqlstate, "SG001");
    EXPECT_NE(d.statements[0].message.find("still unanswered"), std::string::npos);
  }
}

TEST(EngineReading, TextThatReadsTheSameUnderEverySettingIsJudgedNormally) {
  PolicyEngine engine{config::Policy{}};
  const auto in_flight = session(true, ClientEncoding::ascii_safe, true);
  // Backslashes that cannot move a boundary: the verdict stands.
  EXPECT_EQ(engine.evaluate("SELECT 'C:\\temp' AS path, 'x'", in_flight, nullptr).outcome, Outcome::pass);
  EXPECT_EQ(engine.evaluate("DROP TABLE t -- C:\\temp", in_flight, nullptr).outcome, Outcome::hold);
  EXPECT_EQ(engine.evaluate("COMMENT ON TABLE t IS 'a\\b'", in_flight, nullptr).outcome, Outcome::pass);
  // No backslash at all: one reading, whatever is in flight.
  EXPECT_EQ(engine.evaluate("SELECT 'DROP TABLE t'", in_flight, nullptr).outcome, Outcome::pass);
}

}  // namespace
}  // namespace schemagate::policy
