#include "policy/sql_parser.h"

#include <gtest/gtest.h>
#include <pg_query/pg_query.pb-c.h>

#include <atomic>
#include <thread>

namespace schemagate::policy {
namespace {

TEST(SqlParser, SplitsWithByteOffsets) {
  const std::string sql = "SELECT 1; CREATE TABLE t (a int);\n  DROP TABLE t";
  const auto r = split_statements(sql);
  EXPECT_FALSE(r.used_scanner);
  ASSERT_EQ(r.spans.size(), 3u);
  EXPECT_EQ(sql.substr(r.spans[0].offset, r.spans[0].length), "SELECT 1");
  EXPECT_NE(sql.substr(r.spans[1].offset, r.spans[1].length).find("CREATE TABLE t (a int)"), std::string::npos);
  EXPECT_NE(sql.substr(r.spans[2].offset, r.spans[2].length).find("DROP TABLE t"), std::string::npos);
}

TEST(SqlParser, SplitFallsBackToScannerOnSyntaxError) {
  const std::string sql = "SELECT 1; SELEC 2; DROP TABLE t";
  const auto r = split_statements(sql);
  EXPECT_TRUE(r.used_scanner);
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.spans.size(), 3u);
}

TEST(SqlParser, SyntaxErrorPositionIsLineAndColumn) {
  SyntaxError err;
  const std::string sql = "SELECT 1;\nSELECT 2;\n  CREATE TABLEX t (a int)";
  EXPECT_EQ(ParsedBatch::parse(sql, &err), nullptr);
  EXPECT_EQ(err.pos.line, 3);
  EXPECT_EQ(err.pos.column, 10);  // "TABLEX"
  EXPECT_NE(err.message.find("syntax error"), std::string::npos);
}

TEST(SqlParser, PositionCountsCharactersNotBytes) {
  const std::string sql = "SELECT 'é', 'ü' FROMM t";
  SyntaxError err;
  EXPECT_EQ(ParsedBatch::parse(sql, &err), nullptr);
  EXPECT_EQ(sql.substr(err.offset, 1), "t");  // the grammar trips over "t" after the bogus alias
  EXPECT_EQ(err.pos.column, 23);              // 25 bytes in, but é and ü are one column each
}

TEST(SqlParser, ParsesIntoTypedTree) {
  SyntaxError err;
  auto b = ParsedBatch::parse("CREATE INDEX i ON t (a); SELECT 1", &err);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->tree()->n_stmts, 2u);
  EXPECT_EQ(b->tree()->stmts[0]->stmt->node_case, PG_QUERY__NODE__NODE_INDEX_STMT);
  EXPECT_EQ(b->tree()->stmts[1]->stmt->node_case, PG_QUERY__NODE__NODE_SELECT_STMT);
  const auto sp = b->span(1);
  EXPECT_EQ(b->text().substr(sp.offset, sp.length), " SELECT 1");
}

TEST(SqlParser, DeparseOfShallowCopyWithOneFieldChanged) {
  SyntaxError err;
  auto b = ParsedBatch::parse("CREATE INDEX i ON t (a)", &err);
  ASSERT_NE(b, nullptr);
  const PgQuery__Node* orig = b->tree()->stmts[0]->stmt;
  PgQuery__IndexStmt copy = *orig->index_stmt;
  copy.concurrent = 1;
  PgQuery__Node n = *orig;
  n.index_stmt = &copy;
  EXPECT_EQ(deparse_statement(&n).value_or(""), "CREATE INDEX CONCURRENTLY i ON t USING btree (a)");
  EXPECT_EQ(deparse_statement(orig).value_or(""), "CREATE INDEX i ON t USING btree (a)");  // cached tree untouched
}

TEST(SqlParser, DeparseExpression) {
  SyntaxError err;
  auto b = ParsedBatch::parse("SELECT coalesce(a, 'x''y') || now()::text", &err);
  ASSERT_NE(b, nullptr);
  const auto* target = b->tree()->stmts[0]->stmt->select_stmt->target_list[0]->res_target->val;
  EXPECT_EQ(deparse_expression(target).value_or(""), "COALESCE(a, 'x''y') || now()::text");
}

TEST(SqlParser, FingerprintIgnoresConstantsAndNormalizeHidesThem) {
  const auto a = fingerprint("ALTER TABLE t ADD COLUMN c int DEFAULT 1");
  const auto b = fingerprint("alter table t add column c int default 42");
  const auto c = fingerprint("ALTER TABLE u ADD COLUMN c int DEFAULT 1");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_FALSE(fingerprint("SELEC 1").has_value());
  EXPECT_EQ(normalize("SELECT * FROM users WHERE password = 'hunter2'").value_or(""),
            "SELECT * FROM users WHERE password = $1");
}

TEST(SqlParser, CacheHitsAndBoundedEviction) {
  SqlParser p(2);
  EXPECT_FALSE(p.parse("SELECT 1").cache_hit);
  EXPECT_TRUE(p.parse("SELECT 1").cache_hit);
  p.parse("SELECT 2");
  p.parse("SELECT 3");  // evicts SELECT 1 (least recently used)
  EXPECT_EQ(p.stats().size, 2u);
  EXPECT_FALSE(p.parse("SELECT 1").cache_hit);
  EXPECT_TRUE(p.parse("SELECT 3").cache_hit);
  // Errors are cached too.
  const auto e1 = p.parse("SELEC x");
  const auto e2 = p.parse("SELEC x");
  EXPECT_FALSE(e1.batch);
  EXPECT_TRUE(e2.cache_hit);
  ASSERT_TRUE(e2.error.has_value());
  EXPECT_EQ(e2.error->pos.column, 1);
}

TEST(SqlParser, CachedTreesOutliveEviction) {
  SqlParser p(1);
  auto held = p.parse("CREATE TABLE keep (a int)").batch;
  p.parse("SELECT 2");  // evicted from the cache, still owned by `held`
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->tree()->stmts[0]->stmt->node_case, PG_QUERY__NODE__NODE_CREATE_STMT);
}

TEST(SqlParser, ThreadSafeUnderConcurrentUse) {
  SqlParser p(8);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        const std::string sql = "SELECT " + std::to_string((i * 7 + t) % 20) + " FROM t" + std::to_string(i % 5);
        if (p.parse(sql).batch) ++ok;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 1200);
  EXPECT_LE(p.stats().size, 8u);
}

TEST(SqlParser, GarbageNeverCrashes) {
  for (const char* s : {"", ";", "$$", "'", "\"", "/*", "E'\\", "SELECT (((((", "\xff\xfe", "$1$2$3"}) {
    SyntaxError err;
    (void)ParsedBatch::parse(s, &err);
    (void)split_statements(s);
    (void)fingerprint(s);
    (void)normalize(s);
  }
  EXPECT_EQ(deparse_statement(nullptr), std::nullopt);
}

}  // namespace
}  // namespace schemagate::policy

namespace schemagate::policy {
namespace {

// The approval key: one spelling per statement, constants and names kept.
TEST(CanonicalStatement, IgnoresSpellingButNotMeaning) {
  const std::string drop = canonical_statement("DROP TABLE victim");
  EXPECT_EQ(canonical_statement("drop   table\n VICTIM /* retried */ ;"), drop);
  EXPECT_EQ(canonical_statement("-- again\nDROP TABLE victim;"), drop);
  EXPECT_NE(canonical_statement("DROP TABLE \"VICTIM\""), drop);  // a quoted name is another table
  EXPECT_NE(canonical_statement("DROP TABLE victim2"), drop);
  EXPECT_NE(canonical_statement("DROP TABLE victim CASCADE"), drop);
  EXPECT_NE(canonical_statement("ALTER TABLE t ALTER c SET DEFAULT 5"),
            canonical_statement("ALTER TABLE t ALTER c SET DEFAULT 6"));
  EXPECT_NE(canonical_statement("ALTER TABLE t ALTER c SET DEFAULT 'a b'"),
            canonical_statement("ALTER TABLE t ALTER c SET DEFAULT 'a  b'"));
  // Not one statement that parses, or a backslash: the trimmed text itself.
  EXPECT_EQ(canonical_statement("  DROP TABLE a; DROP TABLE b  "), "DROP TABLE a; DROP TABLE b");
  EXPECT_EQ(canonical_statement("DROP TABLE (oops"), "DROP TABLE (oops");
  EXPECT_EQ(canonical_statement("COMMENT ON TABLE t IS 'a\\'' "), "COMMENT ON TABLE t IS 'a\\''");
}

}  // namespace
}  // namespace schemagate::policy
