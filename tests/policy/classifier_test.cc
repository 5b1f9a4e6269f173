#include "policy/classifier.h"

#include <gtest/gtest.h>
#include <pg_query/pg_query.pb-c.h>

#include "tests/policy/fake_facts.h"

namespace schemagate::policy {
namespace {

Statement classify_sql(const std::string& sql, const CatalogFacts* facts = nullptr) {
  SyntaxError err;
  auto b = ParsedBatch::parse(sql, &err);
  EXPECT_NE(b, nullptr) << sql << ": " << err.message;
  Statement s;
  if (b) classify(b->tree()->stmts[0]->stmt, facts, s);
  s.node = nullptr;  // the tree dies with `b`
  return s;
}

struct LockCase {
  const char* sql;
  LockLevel lock;
  StatementClass klass;
  bool tx_ok;
};

TEST(Classifier, LocksClassesAndTransactionRules) {
  const LockCase cases[] = {
      {"CREATE INDEX i ON t (a)", LockLevel::share, StatementClass::ddl, true},
      {"CREATE INDEX CONCURRENTLY i ON t (a)", LockLevel::share_update_exclusive, StatementClass::ddl, false},
      {"DROP INDEX CONCURRENTLY i", LockLevel::share_update_exclusive, StatementClass::ddl, false},
      {"DROP TABLE t", LockLevel::access_exclusive, StatementClass::ddl, true},
      {"ALTER TABLE t ADD COLUMN c int", LockLevel::access_exclusive, StatementClass::ddl, true},
      {"ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id)", LockLevel::share_row_exclusive, StatementClass::ddl, true},
      {"ALTER TABLE t VALIDATE CONSTRAINT f", LockLevel::share_update_exclusive, StatementClass::ddl, true},
      {"ALTER TABLE t SET (autovacuum_enabled = off)", LockLevel::share_update_exclusive, StatementClass::ddl, true},
      {"ALTER TABLE t ENABLE TRIGGER trg", LockLevel::share_row_exclusive, StatementClass::ddl, true},
      {"ALTER TABLE t ALTER COLUMN c SET STATISTICS 100, ADD COLUMN d int", LockLevel::access_exclusive, StatementClass::ddl, true},
      {"VACUUM t", LockLevel::share_update_exclusive, StatementClass::maintenance, false},
      {"VACUUM FULL t", LockLevel::access_exclusive, StatementClass::maintenance, false},
      {"ANALYZE t", LockLevel::share_update_exclusive, StatementClass::maintenance, true},
      {"CLUSTER t", LockLevel::access_exclusive, StatementClass::maintenance, true},
      {"CLUSTER", LockLevel::access_exclusive, StatementClass::maintenance, false},
      {"REINDEX TABLE t", LockLevel::share, StatementClass::maintenance, true},
      {"REINDEX TABLE CONCURRENTLY t", LockLevel::share_update_exclusive, StatementClass::maintenance, false},
      {"REINDEX DATABASE d", LockLevel::share, StatementClass::maintenance, false},
      {"REFRESH MATERIALIZED VIEW mv", LockLevel::access_exclusive, StatementClass::maintenance, true},
      {"REFRESH MATERIALIZED VIEW CONCURRENTLY mv", LockLevel::exclusive, StatementClass::maintenance, true},
      {"LOCK TABLE t IN ROW EXCLUSIVE MODE", LockLevel::row_exclusive, StatementClass::maintenance, true},
      {"TRUNCATE t", LockLevel::access_exclusive, StatementClass::maintenance, true},
      {"CREATE TRIGGER g AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", LockLevel::share_row_exclusive, StatementClass::ddl, true},
      {"COPY t FROM STDIN", LockLevel::row_exclusive, StatementClass::dml, true},
      {"CREATE DATABASE d", LockLevel::none, StatementClass::ddl, false},
      {"DROP DATABASE d", LockLevel::none, StatementClass::ddl, false},
      {"ALTER SYSTEM SET work_mem = '1MB'", LockLevel::none, StatementClass::ddl, false},
      {"CREATE TABLESPACE ts LOCATION '/x'", LockLevel::none, StatementClass::ddl, false},
      {"DO $$ BEGIN END $$", LockLevel::none, StatementClass::opaque, true},
      {"CALL p(1)", LockLevel::none, StatementClass::opaque, true},
      {"SELECT 1", LockLevel::none, StatementClass::query, true},
      {"SELECT 1 INTO t2", LockLevel::none, StatementClass::ddl, true},
      {"INSERT INTO t VALUES (1)", LockLevel::none, StatementClass::dml, true},
      {"BEGIN", LockLevel::none, StatementClass::transaction, true},
      {"COMMIT PREPARED 'x'", LockLevel::none, StatementClass::transaction, false},
      {"SET search_path = a", LockLevel::none, StatementClass::session, true},
      {"EXPLAIN SELECT 1", LockLevel::none, StatementClass::query, true},
      {"EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", LockLevel::none, StatementClass::ddl, true},
      {"GRANT SELECT ON t TO r", LockLevel::none, StatementClass::ddl, true},
      {"CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p", LockLevel::none, StatementClass::ddl, false},
  };
  for (const auto& c : cases) {
    const Statement s = classify_sql(c.sql);
    EXPECT_EQ(lock_name(s.lock), std::string(lock_name(c.lock))) << c.sql;
    EXPECT_EQ(class_name(s.klass), std::string(class_name(c.klass))) << c.sql;
    EXPECT_EQ(s.allowed_in_transaction, c.tx_ok) << c.sql;
    EXPECT_NE(s.node_type, "Unknown") << c.sql;
    EXPECT_FALSE(s.tag.empty()) << c.sql;
  }
}

// Every PostgreSQL 15 utility statement kind gets a real classification (not "Unknown").
TEST(Classifier, EveryUtilityKindIsKnown) {
  for (const char* sql : {
           "CREATE AGGREGATE a (int) (sfunc = f, stype = int)", "CREATE OPERATOR === (leftarg = int, rightarg = int, function = f)",
           "CREATE COLLATION c (locale = 'C')", "CREATE TEXT SEARCH DICTIONARY d (template = simple)",
           "ALTER TEXT SEARCH DICTIONARY d (stopwords = english)", "ALTER TEXT SEARCH CONFIGURATION c ADD MAPPING FOR word WITH simple",
           "CREATE CONVERSION c FOR 'LATIN1' TO 'UTF8' FROM f", "CREATE OPERATOR CLASS c FOR TYPE int USING btree AS OPERATOR 1 <",
           "CREATE OPERATOR FAMILY f USING btree", "ALTER OPERATOR FAMILY f USING btree ADD OPERATOR 1 < (int, int)",
           "ALTER OPERATOR === (int, int) SET (restrict = eqsel)", "CREATE LANGUAGE plfoo", "CREATE FOREIGN DATA WRAPPER w",
           "ALTER FOREIGN DATA WRAPPER w OPTIONS (a 'b')", "CREATE SERVER s FOREIGN DATA WRAPPER w", "ALTER SERVER s VERSION '2'",
           "CREATE USER MAPPING FOR r SERVER s", "ALTER USER MAPPING FOR r SERVER s OPTIONS (user 'x')", "DROP USER MAPPING FOR r SERVER s",
           "CREATE TRANSFORM FOR int LANGUAGE plfoo (FROM SQL WITH FUNCTION f(internal))", "CREATE ACCESS METHOD am TYPE INDEX HANDLER h",
           "ALTER PUBLICATION p ADD TABLE t", "ALTER SUBSCRIPTION s DISABLE", "DROP SUBSCRIPTION s", "ALTER COLLATION c REFRESH VERSION",
           "ALTER STATISTICS s SET STATISTICS 10", "ALTER FUNCTION f() DEPENDS ON EXTENSION e", "ALTER EVENT TRIGGER e DISABLE",
           "ALTER DATABASE d SET work_mem = '1MB'", "ALTER DATABASE d REFRESH COLLATION VERSION", "ALTER DATABASE d CONNECTION LIMIT 5",
           "ALTER TABLESPACE ts SET (seq_page_cost = 1)", "ALTER TABLE ALL IN TABLESPACE a SET TABLESPACE b", "GRANT r TO u",
           "DROP ROLE r", "DROP OWNED BY r", "ALTER ROLE r IN DATABASE d SET x = 1", "ALTER FUNCTION f() IMMUTABLE",
           "ALTER TYPE t RENAME ATTRIBUTE a TO b", "ALTER TYPE t SET (receive = f)", "CREATE TYPE c AS (a int)",
           "CREATE TYPE r AS RANGE (subtype = int)", "ALTER DOMAIN d SET NOT NULL", "ALTER EXTENSION e ADD TABLE t",
           "ALTER POLICY p ON t USING (true)", "ALTER TABLE t REPLICA IDENTITY FULL", "LOAD 'x'", "CHECKPOINT", "DISCARD ALL",
           "DEALLOCATE ALL", "EXECUTE p", "FETCH c", "CLOSE c", "UNLISTEN *", "SET CONSTRAINTS ALL DEFERRED",
           "ALTER TABLE t OWNER TO r", "ALTER FUNCTION f() OWNER TO r", "ALTER TABLE t SET SCHEMA s", "ALTER FUNCTION f() SET SCHEMA s"}) {
    const Statement s = classify_sql(sql);
    EXPECT_NE(s.node_type, "Unknown") << sql;
    EXPECT_FALSE(s.tag.empty()) << sql;
  }
}

TEST(Classifier, ObjectsAreSchemaQualifiedAndResolvedWithSearchPath) {
  FakeFacts facts;
  facts.search_path["orders"] = "sales";
  Statement s = classify_sql("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES crm.customers (id)", &facts);
  ASSERT_EQ(s.objects.size(), 2u);
  EXPECT_EQ(s.objects[0].display(), "sales.orders");
  EXPECT_EQ(lock_name(s.objects[0].lock), std::string("SHARE ROW EXCLUSIVE"));
  EXPECT_EQ(s.objects[1].display(), "crm.customers");
  EXPECT_EQ(lock_name(s.objects[1].lock), std::string("SHARE ROW EXCLUSIVE"));
  // Objects being created are not resolved (they go to the first schema of search_path).
  s = classify_sql("CREATE TABLE orders (id int)", &facts);
  EXPECT_EQ(s.objects[0].display(), "orders");
  EXPECT_TRUE(s.objects[0].created);
}

TEST(Classifier, RewriteAndScanFacts) {
  EXPECT_TRUE(classify_sql("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid()").rewrites_table);
  EXPECT_FALSE(classify_sql("ALTER TABLE t ADD COLUMN c int DEFAULT 0").rewrites_table);
  EXPECT_TRUE(classify_sql("ALTER TABLE t ALTER COLUMN c TYPE bigint").rewrites_table);  // unknown old type
  EXPECT_TRUE(classify_sql("ALTER TABLE t ALTER COLUMN c SET NOT NULL").scans_table);
  EXPECT_TRUE(classify_sql("ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0)").scans_table);
  EXPECT_FALSE(classify_sql("ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0) NOT VALID").scans_table);
  EXPECT_TRUE(classify_sql("VACUUM FULL t").rewrites_table);
  EXPECT_TRUE(classify_sql("DO $$ BEGIN END $$").opaque);
  FakeFacts facts;
  facts.column_types["t.c"] = "character varying(20)";
  EXPECT_FALSE(classify_sql("ALTER TABLE t ALTER COLUMN c TYPE varchar(40)", &facts).rewrites_table);
  facts.version = 100000;
  EXPECT_TRUE(classify_sql("ALTER TABLE t ADD COLUMN c int DEFAULT 0", &facts).rewrites_table);
}

TEST(Classifier, TypeChangeBinaryCoercible) {
  auto check = [](const char* old_type, const char* sql_type, bool using_clause) {
    SyntaxError err;
    auto b = ParsedBatch::parse(std::string("ALTER TABLE t ALTER COLUMN c TYPE ") + sql_type, &err);
    const auto* def = b->tree()->stmts[0]->stmt->alter_table_stmt->cmds[0]->alter_table_cmd->def->column_def;
    return type_change(old_type, def->type_name, using_clause);
  };
  EXPECT_EQ(check("character varying(20)", "varchar(40)", false), TypeChange::binary_coercible);
  EXPECT_EQ(check("character varying(20)", "text", false), TypeChange::binary_coercible);
  EXPECT_EQ(check("character varying(20)", "varchar", false), TypeChange::binary_coercible);
  EXPECT_EQ(check("character varying(40)", "varchar(20)", false), TypeChange::rewrite);
  EXPECT_EQ(check("text", "varchar", false), TypeChange::binary_coercible);
  EXPECT_EQ(check("text", "varchar(10)", false), TypeChange::rewrite);
  EXPECT_EQ(check("numeric(10,2)", "numeric(12,2)", false), TypeChange::binary_coercible);
  EXPECT_EQ(check("numeric(10,2)", "numeric(12,3)", false), TypeChange::rewrite);
  EXPECT_EQ(check("numeric(10,2)", "numeric", false), TypeChange::binary_coercible);
  EXPECT_EQ(check("integer", "bigint", false), TypeChange::rewrite);
  EXPECT_EQ(check("integer", "int4", false), TypeChange::binary_coercible);
  EXPECT_EQ(check("cidr", "inet", false), TypeChange::binary_coercible);
  EXPECT_EQ(check("character varying(20)", "varchar(40)", true), TypeChange::rewrite);
  EXPECT_EQ(check("", "bigint", false), TypeChange::unknown);
}

TEST(Classifier, ExpressionVolatility) {
  auto vol = [](const char* expr, const CatalogFacts* f = nullptr) {
    SyntaxError err;
    auto b = ParsedBatch::parse(std::string("SELECT ") + expr, &err);
    const auto* e = b->tree()->stmts[0]->stmt->select_stmt->target_list[0]->res_target->val;
    std::string why;
    return expression_volatility(e, f, &why);
  };
  EXPECT_EQ(vol("42"), Volatility::immutable);
  EXPECT_EQ(vol("'x'::text"), Volatility::immutable);
  EXPECT_EQ(vol("lower('A') || 'b'"), Volatility::immutable);
  EXPECT_EQ(vol("now()"), Volatility::stable);
  EXPECT_EQ(vol("CURRENT_TIMESTAMP"), Volatility::stable);
  EXPECT_EQ(vol("random()"), Volatility::volatile_);
  EXPECT_EQ(vol("coalesce(null, gen_random_uuid())"), Volatility::volatile_);
  EXPECT_EQ(vol("(SELECT 1)"), Volatility::volatile_);
  EXPECT_EQ(vol("my_func()"), Volatility::volatile_);  // unknown without a catalog
  FakeFacts facts;
  facts.volatility["my_func"] = Volatility::immutable;
  EXPECT_EQ(vol("my_func()", &facts), Volatility::immutable);
  EXPECT_EQ(vol("myschema.random()"), Volatility::volatile_);  // not the builtin: unknown
}

}  // namespace
}  // namespace schemagate::policy
