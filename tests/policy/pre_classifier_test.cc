#include "policy/pre_classifier.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/policy/ddl_oracle.h"

namespace schemagate::policy {
namespace {

using testing_oracle::parser_says_ordinary;

// Hand-picked cases: ordinary text that must take the fast path.
TEST(PreClassifier, OrdinaryStatementsTakeTheFastPath) {
  for (const char* sql : {
           "SELECT 1",
           "select * from t where a = 'DROP TABLE x'",
           "INSERT INTO t VALUES ($1, $2)",
           "UPDATE t SET a = E'\\'; DROP TABLE x; --' WHERE id = 1",
           "DELETE FROM t WHERE id IN (SELECT id FROM u)",
           "WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM x",
           "((SELECT 1)) UNION ALL (SELECT 2)",
           "VALUES (1), (2)",
           "TABLE t",
           "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
           "SELECT $tag$ CREATE TABLE x $tag$",
           "SELECT /* /* CREATE */ DROP */ 1",
           "SELECT 1 -- ; DROP TABLE x",
           "BEGIN; SELECT 1; COMMIT",
           "SHOW work_mem",
           "SELECT \"into\" FROM t",
           "",
           " ; ; ",
       }) {
    EXPECT_FALSE(might_change_schema(sql)) << sql;
  }
}

// Hand-picked cases: anything else goes to the parser.
TEST(PreClassifier, EverythingElseGoesToTheParser) {
  for (const char* sql : {
           "CREATE TABLE t (a int)",
           "SELECT 1; DROP TABLE t",
           "SELECT * INTO t2 FROM t",
           "WITH x AS (SELECT 1) SELECT * INTO t2 FROM x",
           "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
           "SET lock_timeout = '1s'",
           "COPY t FROM STDIN",
           "DO $$ BEGIN END $$",
           "SELECT 'unterminated",
           "SELECT /* unterminated",
           "SELECT $a$ unterminated",
           "SELECT 'back\\slash'",  // could lex differently with standard_conforming_strings=off
           "\"select\" 1",
           "(CREATE TABLE t (a int))",
           "U&'\\0041'",
           "PREPARE p AS SELECT 1",
           "VACUUM",
       }) {
    EXPECT_TRUE(might_change_schema(sql)) << sql;
  }
}

// ---------------------------------------------------------------- differential test

// Building blocks: ordinary statements, schema-changing ones, and noise that hides DDL words.
const std::vector<std::string> kOrdinary = {
    "SELECT 1", "SELECT a, b FROM t WHERE c = 'x'", "select * from \"Orders\" o join items i on i.o = o.id",
    "INSERT INTO t (a) VALUES (1)", "insert into t select * from u returning *", "UPDATE t SET a = a + 1 WHERE id = $1",
    "DELETE FROM t WHERE id = 3", "VALUES (1, 'a')", "TABLE t", "(SELECT 1) UNION (SELECT 2)",
    "WITH c AS (SELECT 1) SELECT * FROM c", "WITH d AS (DELETE FROM q RETURNING *) INSERT INTO done SELECT * FROM d",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a", "BEGIN", "COMMIT", "ROLLBACK",
    "SAVEPOINT s", "RELEASE SAVEPOINT s", "START TRANSACTION", "END", "SHOW search_path",
    "SELECT * FROM t FOR UPDATE", "SELECT count(*) FILTER (WHERE a > 1) FROM t", "SELECT x::int[] FROM t",
    "SELECT 1.5e3, .5, 0x1F", "SELECT a$b FROM t",
};
const std::vector<std::string> kSchemaChanging = {
    "CREATE TABLE x (a int)", "DROP TABLE x", "ALTER TABLE x ADD COLUMN b int", "CREATE INDEX ON x (a)", "TRUNCATE x",
    "SELECT 1 INTO x", "SELECT * INTO TEMP x FROM t", "WITH c AS (SELECT 1) SELECT * INTO x FROM c",
    "CREATE TABLE x AS SELECT 1", "EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", "VACUUM FULL x", "GRANT ALL ON x TO y",
    "COMMENT ON TABLE x IS 'y'", "DO $$ BEGIN END $$", "CALL p()", "SET lock_timeout = 0", "REINDEX TABLE x",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $f$ SELECT 1 $f$", "LOCK TABLE x", "CLUSTER x",
    "REFRESH MATERIALIZED VIEW x", "ALTER TABLE x RENAME TO y", "DROP INDEX CONCURRENTLY i", "COPY x FROM STDIN",
    "DECLARE c CURSOR FOR SELECT 1", "PREPARE p AS SELECT 1", "(SELECT 1) INTO x",
};
const std::vector<std::string> kNoise = {
    "/* DROP TABLE x; */", "-- CREATE TABLE y;\n", "/* a /* b; DROP TABLE z; */ c */", "\n", "\t", "  ",
};
const std::vector<std::string> kLiterals = {
    "'DROP TABLE x; --'",   "'it''s; CREATE TABLE y'", "E'\\'; DROP TABLE x; --'", "$$; DROP TABLE x; $$",
    "$q$ ALTER TABLE t $q$", "\"DROP TABLE x;\"",       "\"a\"\"; TRUNCATE t\"",      "B'1010'",
    "X'FF'",                "N'x; DROP'",              "'-- not a comment'",       "'/* not a comment'",
    // Read differently under standard_conforming_strings off or a client-only encoding.
    "'a\\''; DROP TABLE x; --'", "'a\\'; DROP TABLE x; --'", "E'\x95\\'; DROP TABLE x; --'",
    "'\x95\\'; TRUNCATE t; --'", "E'\xb3\\\\'; CREATE TABLE y (a int); --'",
};

std::string random_case(std::string s, std::mt19937& rng) {
  std::uniform_int_distribution<int> coin(0, 3);
  if (coin(rng) != 0) return s;
  bool in_quote = false;
  for (auto& c : s) {
    if (c == '\'' || c == '"' || c == '$') in_quote = !in_quote;
    if (!in_quote && std::isalpha(static_cast<unsigned char>(c)) && coin(rng) == 0)
      c = static_cast<char>(std::islower(static_cast<unsigned char>(c)) ? std::toupper(c) : std::tolower(c));
  }
  return s;
}

template <typename T>
const T& pick(const std::vector<T>& v, std::mt19937& rng) {
  return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
}

// One generated message: 1–3 statements, with noise between tokens and literals in SELECT lists.
std::string generate(std::mt19937& rng) {
  std::uniform_int_distribution<int> n_stmts(1, 3), pct(0, 99);
  std::string out;
  const int n = n_stmts(rng);
  for (int i = 0; i < n; ++i) {
    if (pct(rng) < 30) out += pick(kNoise, rng);
    std::string stmt = pct(rng) < 70 ? pick(kOrdinary, rng) : pick(kSchemaChanging, rng);
    if (pct(rng) < 40 && stmt.rfind("SELECT ", 0) == 0) stmt = "SELECT " + pick(kLiterals, rng) + ", " + stmt.substr(7);
    if (pct(rng) < 20) {  // noise right after the first word
      const auto sp = stmt.find(' ');
      if (sp != std::string::npos) stmt.insert(sp, " " + pick(kNoise, rng) + " ");
    }
    out += random_case(stmt, rng);
    if (i + 1 < n || pct(rng) < 50) out += ";";
    if (pct(rng) < 30) out += pick(kNoise, rng);
    out += pct(rng) < 50 ? " " : "\n";
  }
  return out;
}

// Byte-level mutation: insert, delete or replace characters that matter to the lexer.
std::string mutate(std::string s, std::mt19937& rng) {
  static const std::string kChars = "'\"$;-/*()\\eE\n xINTO\x95\xb3";
  std::uniform_int_distribution<int> op(0, 2);
  const int edits = std::uniform_int_distribution<int>(1, 3)(rng);
  for (int i = 0; i < edits && !s.empty(); ++i) {
    const std::size_t at = std::uniform_int_distribution<std::size_t>(0, s.size() - 1)(rng);
    const char c = kChars[std::uniform_int_distribution<std::size_t>(0, kChars.size() - 1)(rng)];
    switch (op(rng)) {
      case 0: s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c); break;
      case 1: s.erase(at, 1); break;
      default: s[at] = c; break;
    }
  }
  return s;
}

TEST(PreClassifierDifferential, NeverCallsSchemaChangingTextOrdinary) {
  std::mt19937 rng(20240517);
  int generated = 0, ordinary = 0, fast = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string sql = generate(rng);
    ++generated;
    const bool pre = might_change_schema(sql);
    const bool parser_ordinary = parser_says_ordinary(sql);
    if (!pre) {
      ASSERT_TRUE(testing_oracle::ordinary_under_every_setting(sql))
          << "pre-classifier called text that is schema-changing under some session setting ordinary:\n" << sql;
    }
    // How useful the fast path is: parseable, ordinary messages it lets through.
    SyntaxError err;
    if (parser_ordinary && ParsedBatch::parse(sql, &err)) {
      ++ordinary;
      if (!pre) ++fast;
    }
  }
  EXPECT_EQ(generated, 20000);
  // Most ordinary messages must skip the parser, or the fast path is pointless. (Some do go to the
  // parser by design: backslashes in plain strings, SHOW/BEGIN mixed with literals, etc.)
  EXPECT_GT(fast * 100, ordinary * 85) << fast << " of " << ordinary << " ordinary messages took the fast path";
}

TEST(PreClassifierDifferential, MutatedInputNeverHidesDdl) {
  std::mt19937 rng(7);
  int fast = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string sql = mutate(generate(rng), rng);
    if (!might_change_schema(sql)) {
      ++fast;
      ASSERT_TRUE(testing_oracle::ordinary_under_every_setting(sql))
          << "pre-classifier called text that is schema-changing under some session setting ordinary:\n" << sql;
    }
  }
  // The property is only tested on inputs that took the fast path: make sure there are many.
  EXPECT_GT(fast, 3000);
}

}  // namespace
}  // namespace schemagate::policy
