// Objects other than tables and indexes: classification (tag, operation, objects, PostgreSQL 15's
// lock levels as pg_locks shows them) and the object rules (policy/object_rules.cc): each fires on
// its statement with its default, and the harmless lookalikes pass.
#include <gtest/gtest.h>

#include <algorithm>

#include "policy/engine.h"
#include "policy/rules.h"

namespace schemagate::policy {
namespace {

struct Judged {
  Outcome outcome = Outcome::pass;
  std::vector<std::string> rules;  // every finding of every statement
  Statement last;                  // the last statement's facts
};

Judged judge(const std::string& sql, char tx_status = 'I', int pg_version = 150000) {
  static const PolicyEngine engine{config::Policy{}};
  SessionInfo session;
  session.user = "deploy";
  session.lock_timeout_set = true;  // keep require_lock_timeout out of these cases
  session.tx_status = tx_status;
  session.server_version_num = pg_version;
  const auto d = engine.evaluate(sql, session, nullptr);
  Judged j;
  j.outcome = d.outcome;
  for (const auto& s : d.statements)
    for (const auto& f : s.findings) j.rules.push_back(f.rule_id);
  if (!d.statements.empty()) j.last = d.statements.back().statement;
  return j;
}

bool has(const Judged& j, const std::string& rule) { return std::count(j.rules.begin(), j.rules.end(), rule) > 0; }

std::string objects(const Statement& s) {
  std::string out;
  for (const auto& o : s.objects)
    out += (out.empty() ? "" : ", ") + o.kind + " " + o.display() + (o.lock == LockLevel::none ? "" : std::string("=") + lock_name(o.lock));
  return out;
}

struct ClassCase {
  const char* sql;
  const char* tag;
  const char* operation;
  LockLevel lock;
  const char* objects;
  bool tx_ok = true;
};

// Locks: BEGIN; <statement>; SELECT … FROM pg_locks WHERE pid = pg_backend_pid(); ROLLBACK on
// PostgreSQL 15.18 (relation locks only; see the comment at the top of classify_objects.cc).
TEST(ObjectClassification, TagsOperationsObjectsAndLocks) {
  using L = LockLevel;
  const ClassCase cases[] = {
      {"DROP VIEW app.v", "DROP VIEW", "DROP VIEW", L::access_exclusive, "view app.v=ACCESS EXCLUSIVE"},
      {"DROP MATERIALIZED VIEW mv CASCADE", "DROP MATERIALIZED VIEW", "DROP MATERIALIZED VIEW CASCADE", L::access_exclusive,
       "materialized view mv=ACCESS EXCLUSIVE"},
      {"DROP SEQUENCE s1", "DROP SEQUENCE", "DROP SEQUENCE", L::access_exclusive, "sequence s1=ACCESS EXCLUSIVE"},
      {"DROP TYPE mood", "DROP TYPE", "DROP TYPE", L::none, "type mood"},
      {"DROP DOMAIN posint", "DROP DOMAIN", "DROP DOMAIN", L::none, "domain posint"},
      {"DROP FUNCTION f(int)", "DROP FUNCTION", "DROP FUNCTION", L::none, "function f"},
      {"DROP CAST (text AS mood)", "DROP CAST", "DROP CAST", L::none, "cast text AS mood"},
      {"DROP EXTENSION pg_trgm", "DROP EXTENSION", "DROP EXTENSION", L::none, "extension pg_trgm"},
      {"DROP TRIGGER tg ON app.t", "DROP TRIGGER", "DROP TRIGGER", L::access_exclusive, "trigger tg, table app.t=ACCESS EXCLUSIVE"},
      {"DROP POLICY p ON t", "DROP POLICY", "DROP POLICY", L::access_exclusive, "policy p, table t=ACCESS EXCLUSIVE"},
      {"DROP RULE r ON t", "DROP RULE", "DROP RULE", L::access_exclusive, "rule r, table t=ACCESS EXCLUSIVE"},
      {"DROP PUBLICATION pub", "DROP PUBLICATION", "DROP PUBLICATION", L::none, "publication pub"},
      {"DROP SERVER srv", "DROP SERVER", "DROP SERVER", L::none, "server srv"},
      {"ALTER INDEX i RENAME TO i2", "ALTER INDEX", "ALTER INDEX RENAME", L::share_update_exclusive, "index i=SHARE UPDATE EXCLUSIVE"},
      {"ALTER VIEW v RENAME TO v2", "ALTER VIEW", "ALTER VIEW RENAME", L::access_exclusive, "view v=ACCESS EXCLUSIVE"},
      {"ALTER TRIGGER tg ON t RENAME TO tg2", "ALTER TRIGGER", "ALTER TRIGGER RENAME", L::access_exclusive,
       "trigger tg, table t=ACCESS EXCLUSIVE"},
      {"ALTER TYPE comp RENAME ATTRIBUTE a TO b", "ALTER TYPE", "ALTER TYPE RENAME ATTRIBUTE", L::access_exclusive,
       "type comp=ACCESS EXCLUSIVE"},
      {"ALTER SCHEMA app RENAME TO app2", "ALTER SCHEMA", "ALTER SCHEMA RENAME", L::none, "schema app"},
      {"ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'", "ALTER TYPE", "ALTER TYPE RENAME VALUE", L::none, "type mood"},
      {"ALTER TYPE app.mood ADD VALUE 'happy'", "ALTER TYPE", "ALTER TYPE ADD VALUE", L::none, "type app.mood"},
      {"ALTER DOMAIN posint SET NOT NULL", "ALTER DOMAIN", "ALTER DOMAIN SET NOT NULL", L::share, "domain posint"},
      {"ALTER DOMAIN posint VALIDATE CONSTRAINT c", "ALTER DOMAIN", "ALTER DOMAIN VALIDATE CONSTRAINT", L::share, "domain posint"},
      {"ALTER DOMAIN posint DROP CONSTRAINT c", "ALTER DOMAIN", "ALTER DOMAIN DROP CONSTRAINT", L::none, "domain posint"},
      {"ALTER DOMAIN posint ADD CONSTRAINT c CHECK (VALUE > 0) NOT VALID", "ALTER DOMAIN", "ALTER DOMAIN ADD CONSTRAINT",
       L::none, "domain posint"},
      {"ALTER SEQUENCE s1 RESTART", "ALTER SEQUENCE", "ALTER SEQUENCE RESTART", L::share_row_exclusive,
       "sequence s1=SHARE ROW EXCLUSIVE"},
      {"ALTER SEQUENCE s1 OWNED BY t.id", "ALTER SEQUENCE", "ALTER SEQUENCE OWNED_BY", L::share_row_exclusive,
       "sequence s1=SHARE ROW EXCLUSIVE, table t=ACCESS SHARE"},
      {"CREATE OR REPLACE VIEW v AS SELECT 1", "CREATE VIEW", "CREATE OR REPLACE VIEW", L::access_exclusive,
       "view v=ACCESS EXCLUSIVE"},
      {"CREATE POLICY p ON t USING (true)", "CREATE POLICY", "CREATE POLICY", L::access_exclusive,
       "table t=ACCESS EXCLUSIVE, policy p"},
      {"ALTER POLICY p ON t USING (false)", "ALTER POLICY", "ALTER POLICY", L::access_exclusive, "table t=ACCESS EXCLUSIVE, policy p"},
      {"CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", "CREATE RULE", "CREATE RULE", L::access_exclusive,
       "table t=ACCESS EXCLUSIVE"},
      {"CREATE TRIGGER g AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "CREATE TRIGGER", "CREATE TRIGGER",
       L::share_row_exclusive, "table t=SHARE ROW EXCLUSIVE, trigger g"},
      {"ALTER PUBLICATION pub DROP TABLE t", "ALTER PUBLICATION", "ALTER PUBLICATION DROP", L::share_update_exclusive,
       "publication pub, table t=SHARE UPDATE EXCLUSIVE"},
      {"ALTER PUBLICATION pub SET (publish = 'insert')", "ALTER PUBLICATION", "ALTER PUBLICATION SET (options)", L::none,
       "publication pub"},
      {"ALTER SUBSCRIPTION sub REFRESH PUBLICATION", "ALTER SUBSCRIPTION", "ALTER SUBSCRIPTION REFRESH PUBLICATION", L::none,
       "subscription sub", false},
      {"ALTER SUBSCRIPTION sub SET PUBLICATION p2 WITH (refresh = false)", "ALTER SUBSCRIPTION",
       "ALTER SUBSCRIPTION SET PUBLICATION", L::none, "subscription sub"},
      {"ALTER SUBSCRIPTION sub DISABLE", "ALTER SUBSCRIPTION", "ALTER SUBSCRIPTION DISABLE", L::none, "subscription sub"},
      {"DROP SUBSCRIPTION sub", "DROP SUBSCRIPTION", "DROP SUBSCRIPTION", L::none, "subscription sub", false},
      {"ALTER EXTENSION pg_trgm UPDATE TO '1.6'", "ALTER EXTENSION", "ALTER EXTENSION UPDATE TO 1.6", L::none,
       "extension pg_trgm"},
      {"DROP OWNED BY old_role", "DROP OWNED", "DROP OWNED", L::access_exclusive, "role old_role"},
      {"REASSIGN OWNED BY a TO b", "REASSIGN OWNED", "REASSIGN OWNED", L::access_exclusive, "role a"},
      {"REVOKE SELECT ON app.t FROM r1", "REVOKE", "REVOKE", L::none, "table app.t"},
      {"GRANT USAGE ON SCHEMA app TO r1", "GRANT", "GRANT", L::none, "schema app"},
      {"REVOKE admin FROM alice", "REVOKE ROLE", "REVOKE ROLE", L::none, "role admin, role alice"},
      {"ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM r1", "ALTER DEFAULT PRIVILEGES",
       "ALTER DEFAULT PRIVILEGES REVOKE", L::none, ""},
      {"ALTER TABLE t OWNER TO r1", "ALTER TABLE", "ALTER TABLE OWNER TO", L::access_exclusive, "table t=ACCESS EXCLUSIVE"},
      {"ALTER TYPE mood OWNER TO r1", "ALTER TYPE", "ALTER TYPE OWNER TO", L::none, "type mood"},
      {"ALTER VIEW v SET SCHEMA archive", "ALTER VIEW", "ALTER VIEW SET SCHEMA", L::access_exclusive, "view v=ACCESS EXCLUSIVE"},
      {"ALTER FUNCTION f(int) SET SCHEMA archive", "ALTER FUNCTION", "ALTER FUNCTION SET SCHEMA", L::none, "function f"},
      {"ALTER TYPE comp DROP ATTRIBUTE b", "ALTER TYPE", "ALTER TYPE DROP ATTRIBUTE", L::access_exclusive, "type comp=ACCESS EXCLUSIVE"},
      {"ALTER TABLE t DISABLE ROW LEVEL SECURITY", "ALTER TABLE", "ALTER TABLE ALTER", L::access_exclusive,
       "table t=ACCESS EXCLUSIVE"},
      {"ALTER TABLE t DISABLE TRIGGER ALL", "ALTER TABLE", "ALTER TABLE ALTER", L::share_row_exclusive,
       "table t=SHARE ROW EXCLUSIVE"},
      {"COMMENT ON TABLE t IS 'x'", "COMMENT", "COMMENT", L::share_update_exclusive, "table t=SHARE UPDATE EXCLUSIVE"},
      {"COMMENT ON COLUMN app.t.c IS 'x'", "COMMENT", "COMMENT", L::share_update_exclusive, "table app.t=SHARE UPDATE EXCLUSIVE"},
      {"COMMENT ON FUNCTION f(int) IS 'x'", "COMMENT", "COMMENT", L::none, "function f"},
      {"SECURITY LABEL FOR selinux ON TABLE t IS 'x'", "SECURITY LABEL", "SECURITY LABEL", L::share_update_exclusive,
       "table t=SHARE UPDATE EXCLUSIVE"},
      {"ALTER SYSTEM SET work_mem = '1MB'", "ALTER SYSTEM", "ALTER SYSTEM", L::none, "", false},
      {"ALTER DATABASE app SET TABLESPACE fast", "ALTER DATABASE", "ALTER DATABASE TABLESPACE", L::none, "database app", false},
      {"ALTER DATABASE app CONNECTION LIMIT 5", "ALTER DATABASE", "ALTER DATABASE CONNECTION_LIMIT", L::none, "database app"},
      {"DROP ROLE old_role", "DROP ROLE", "DROP ROLE", L::none, "role old_role"},
      {"ALTER ROLE app NOLOGIN", "ALTER ROLE", "ALTER ROLE", L::none, "role app"},
      {"ALTER EVENT TRIGGER et DISABLE", "ALTER EVENT TRIGGER", "ALTER EVENT TRIGGER DISABLE", L::none, "event trigger et"},
      {"CREATE TYPE mood AS ENUM ('a')", "CREATE TYPE", "CREATE TYPE", L::none, "type mood"},
      {"CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$", "CREATE PROCEDURE", "CREATE PROCEDURE", L::none, "procedure p"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sql);
    const auto j = judge(c.sql);
    EXPECT_EQ(j.last.tag, c.tag);
    EXPECT_EQ(j.last.operation, c.operation);
    EXPECT_EQ(j.last.klass, StatementClass::ddl);
    EXPECT_STREQ(lock_name(j.last.lock), lock_name(c.lock));
    EXPECT_EQ(objects(j.last), c.objects);
    EXPECT_EQ(j.last.allowed_in_transaction, c.tx_ok);
  }
}

struct RuleCase {
  const char* sql;
  const char* rule;
  Outcome outcome;
};

TEST(ObjectRules, EachRuleFiresOnItsStatementWithItsDefault) {
  const RuleCase cases[] = {
      {"DROP VIEW report_v", "drop_object", Outcome::hold},
      {"DROP MATERIALIZED VIEW mv", "drop_object", Outcome::hold},
      {"DROP SEQUENCE s1", "drop_object", Outcome::hold},
      {"DROP TYPE mood", "drop_object", Outcome::hold},
      {"DROP DOMAIN posint CASCADE", "drop_object", Outcome::hold},
      {"DROP FUNCTION f(int)", "drop_object", Outcome::hold},
      {"DROP PROCEDURE p()", "drop_object", Outcome::hold},
      {"DROP AGGREGATE agg(int)", "drop_object", Outcome::hold},
      {"DROP OPERATOR === (int, int)", "drop_object", Outcome::hold},
      {"DROP CAST (text AS mood)", "drop_object", Outcome::hold},
      {"DROP COLLATION c1", "drop_object", Outcome::hold},
      {"DROP SERVER srv CASCADE", "drop_object", Outcome::hold},
      {"DROP FOREIGN TABLE ft", "drop_object", Outcome::hold},
      {"DROP RULE r ON orders", "drop_object", Outcome::hold},
      {"DROP EXTENSION pg_trgm", "drop_object", Outcome::hold},
      {"DROP ROLE old_role", "drop_object", Outcome::hold},
      {"ALTER VIEW v RENAME TO v2", "rename_object", Outcome::hold},
      {"ALTER SEQUENCE s1 RENAME TO s2", "rename_object", Outcome::hold},
      {"ALTER TYPE mood RENAME TO feeling", "rename_object", Outcome::hold},
      {"ALTER TYPE comp RENAME ATTRIBUTE a TO b", "rename_object", Outcome::hold},
      {"ALTER FUNCTION f(int) RENAME TO g", "rename_object", Outcome::hold},
      {"ALTER SCHEMA app RENAME TO app2", "rename_object", Outcome::hold},
      {"ALTER DATABASE app RENAME TO app2", "rename_object", Outcome::hold},
      {"ALTER ROLE app RENAME TO app2", "rename_object", Outcome::hold},
      {"ALTER PUBLICATION pub RENAME TO pub2", "rename_object", Outcome::hold},
      {"ALTER VIEW v SET SCHEMA archive", "rename_object", Outcome::hold},
      {"ALTER EXTENSION pgcrypto SET SCHEMA ext", "rename_object", Outcome::hold},
      {"ALTER TABLE orders SET SCHEMA archive", "rename_table", Outcome::hold},
      {"CREATE OR REPLACE VIEW v AS SELECT 2", "replace_view", Outcome::hold},
      {"ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'", "alter_enum_rename_value", Outcome::hold},
      {"ALTER SEQUENCE s1 RESTART WITH 1", "sequence_restart", Outcome::hold},
      {"ALTER SEQUENCE s1 CYCLE", "sequence_restart", Outcome::hold},
      {"ALTER TABLE t ALTER COLUMN id RESTART WITH 1", "sequence_restart", Outcome::hold},
      {"ALTER SEQUENCE s1 AS int", "alter_sequence", Outcome::warn},
      {"ALTER SEQUENCE s1 INCREMENT BY 50", "alter_sequence", Outcome::warn},
      {"ALTER SEQUENCE s1 OWNED BY NONE", "alter_sequence", Outcome::warn},
      {"DROP POLICY p ON orders", "drop_policy", Outcome::hold},
      {"ALTER POLICY p ON orders USING (true)", "alter_policy", Outcome::warn},
      {"ALTER TABLE orders DISABLE ROW LEVEL SECURITY", "disable_row_security", Outcome::hold},
      {"ALTER TABLE orders NO FORCE ROW LEVEL SECURITY", "disable_row_security", Outcome::hold},
      {"ALTER TABLE orders DISABLE TRIGGER audit", "disable_trigger", Outcome::hold},
      {"ALTER TABLE orders DISABLE TRIGGER ALL", "disable_trigger", Outcome::hold},
      {"ALTER TABLE orders DISABLE TRIGGER USER", "disable_trigger", Outcome::hold},
      {"DROP TRIGGER audit ON orders", "disable_trigger", Outcome::hold},
      {"DROP EVENT TRIGGER et", "disable_trigger", Outcome::hold},
      {"ALTER EVENT TRIGGER et DISABLE", "disable_trigger", Outcome::hold},
      {"ALTER PUBLICATION pub DROP TABLE orders", "alter_publication", Outcome::hold},
      {"ALTER PUBLICATION pub SET TABLE orders", "alter_publication", Outcome::hold},
      {"ALTER PUBLICATION pub SET (publish = 'insert')", "alter_publication", Outcome::hold},
      {"DROP PUBLICATION pub", "alter_publication", Outcome::hold},
      {"ALTER SUBSCRIPTION sub DISABLE", "alter_subscription", Outcome::hold},
      {"ALTER SUBSCRIPTION sub CONNECTION 'host=elsewhere'", "alter_subscription", Outcome::hold},
      {"ALTER SUBSCRIPTION sub DROP PUBLICATION p1", "alter_subscription", Outcome::hold},
      {"DROP SUBSCRIPTION sub", "alter_subscription", Outcome::hold},
      {"ALTER EXTENSION pgcrypto UPDATE", "alter_extension", Outcome::hold},
      {"DROP OWNED BY old_role", "drop_owned", Outcome::hold},
      {"REASSIGN OWNED BY old_role TO new_role", "change_owner", Outcome::warn},
      {"ALTER TABLE orders OWNER TO app_owner", "change_owner", Outcome::warn},
      {"ALTER FUNCTION f(int) OWNER TO app_owner", "change_owner", Outcome::warn},
      {"REVOKE ALL ON orders FROM public", "revoke_privileges", Outcome::warn},
      {"REVOKE reporting FROM alice", "revoke_privileges", Outcome::warn},
      {"ALTER DEFAULT PRIVILEGES IN SCHEMA app REVOKE SELECT ON TABLES FROM reporting", "revoke_privileges", Outcome::warn},
      {"ALTER ROLE app NOLOGIN", "revoke_privileges", Outcome::warn},
      {"ALTER ROLE app PASSWORD 'x'", "revoke_privileges", Outcome::warn},
      {"ALTER ROLE app CONNECTION LIMIT 1", "revoke_privileges", Outcome::warn},
      {"ALTER TYPE comp DROP ATTRIBUTE b", "alter_type_attribute", Outcome::hold},
      {"ALTER TYPE comp ALTER ATTRIBUTE a TYPE bigint", "alter_type_attribute", Outcome::hold},
      {"ALTER DOMAIN posint DROP CONSTRAINT positive", "alter_domain_constraint", Outcome::warn},
      {"ALTER DOMAIN posint DROP NOT NULL", "alter_domain_constraint", Outcome::warn},
      {"ALTER DOMAIN posint SET NOT NULL", "alter_domain_constraint", Outcome::warn},
      {"ALTER DOMAIN posint SET DEFAULT 1", "alter_domain_constraint", Outcome::warn},
      {"ALTER DOMAIN posint VALIDATE CONSTRAINT positive", "alter_domain_constraint", Outcome::warn},
      {"ALTER SYSTEM SET work_mem = '1MB'", "alter_system", Outcome::hold},
      {"ALTER DATABASE app ALLOW_CONNECTIONS false", "alter_system", Outcome::hold},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sql);
    const auto j = judge(c.sql);
    EXPECT_TRUE(has(j, c.rule)) << ::testing::PrintToString(j.rules);
    EXPECT_EQ(outcome_name(j.outcome), outcome_name(c.outcome));
    const RuleInfo* r = find_rule(c.rule);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(outcome_name(r->default_action), outcome_name(c.outcome));
  }
}

// The false-stop side: statements that look alike but break nothing pass.
TEST(ObjectRules, HarmlessLookalikesPass) {
  const char* cases[] = {
      "CREATE VIEW v AS SELECT 1",
      "CREATE SEQUENCE s1",
      "CREATE TYPE mood AS ENUM ('sad', 'ok')",
      "ALTER TYPE mood ADD VALUE 'happy'",
      "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy' BEFORE 'ok'",
      "ALTER TYPE comp ADD ATTRIBUTE c int",
      "ALTER TYPE comp ADD ATTRIBUTE j json",  // no column advice for type attributes
      "CREATE DOMAIN posint AS int",
      "CREATE POLICY p ON orders USING (tenant = current_user)",
      "ALTER TABLE orders ENABLE ROW LEVEL SECURITY",
      "ALTER TABLE orders FORCE ROW LEVEL SECURITY",
      "ALTER TABLE orders ENABLE TRIGGER audit",
      "ALTER TABLE orders ENABLE ALWAYS TRIGGER audit",
      "CREATE TRIGGER g AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()",
      "CREATE PUBLICATION pub FOR TABLE orders",
      "ALTER PUBLICATION pub ADD TABLE orders",
      "ALTER SUBSCRIPTION sub ENABLE",
      "ALTER SUBSCRIPTION sub ADD PUBLICATION p2 WITH (refresh = false)",
      "CREATE EXTENSION IF NOT EXISTS pgcrypto",
      "ALTER SEQUENCE s1 CACHE 20",
      "ALTER SEQUENCE s1 START WITH 100",
      "ALTER SEQUENCE s1 NO CYCLE",
      "GRANT SELECT ON orders TO reporting",
      "GRANT reporting TO alice",
      "ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO reporting",
      "ALTER ROLE app LOGIN",
      "ALTER ROLE app SET statement_timeout = '30s'",
      "ALTER DATABASE app SET work_mem = '8MB'",
      "CREATE ROLE reporting NOLOGIN",
      "COMMENT ON TABLE orders IS 'DROP TABLE me'",
      "COMMENT ON VIEW v IS 'x'",
      "COMMENT ON TYPE mood IS 'x'",
      "SECURITY LABEL FOR selinux ON TABLE orders IS 'x'",
      "ALTER INDEX orders_idx RENAME TO orders_idx_old",
      "ALTER TABLE orders RENAME CONSTRAINT c1 TO c2",
      "ALTER TRIGGER audit ON orders RENAME TO audit2",
      "ALTER POLICY p ON orders RENAME TO p2",
      "ALTER STATISTICS st RENAME TO st2",
      "ALTER EVENT TRIGGER et ENABLE",
      "DROP STATISTICS st",
      "ALTER STATISTICS st SET SCHEMA archive",
  };
  for (const char* sql : cases) {
    SCOPED_TRACE(sql);
    const auto j = judge(sql);
    EXPECT_EQ(outcome_name(j.outcome), std::string("pass")) << ::testing::PrintToString(j.rules);
    EXPECT_TRUE(j.rules.empty()) << ::testing::PrintToString(j.rules);
  }
}

TEST(ObjectRules, ObjectsCreatedEarlierInTheMessageMayBeDroppedOrReplaced) {
  EXPECT_EQ(judge("CREATE VIEW tmp_v AS SELECT 1; DROP VIEW tmp_v").outcome, Outcome::pass);
  EXPECT_EQ(judge("CREATE VIEW tmp_v AS SELECT 1; CREATE OR REPLACE VIEW tmp_v AS SELECT 2").outcome, Outcome::pass);
  EXPECT_EQ(judge("CREATE SEQUENCE tmp_s; DROP SEQUENCE tmp_s").outcome, Outcome::pass);
  EXPECT_EQ(judge("CREATE TYPE tmp_t AS ENUM ('a'); DROP TYPE tmp_t").outcome, Outcome::pass);
  EXPECT_EQ(judge("CREATE FUNCTION tmp_f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$; DROP FUNCTION tmp_f()").outcome,
            Outcome::pass);
  // Another object of the same name but another kind, or another name, still counts as in use.
  EXPECT_EQ(judge("CREATE VIEW tmp_v AS SELECT 1; DROP SEQUENCE tmp_v").outcome, Outcome::hold);
  EXPECT_EQ(judge("CREATE VIEW tmp_v AS SELECT 1; DROP VIEW other_v").outcome, Outcome::hold);
}

// Class 4 of issue 8: a label added inside a transaction cannot be used before COMMIT.
TEST(ObjectRules, NewEnumLabelUsedBeforeCommit) {
  auto j = judge("BEGIN; ALTER TYPE mood ADD VALUE 'ecstatic'; UPDATE people SET m = 'ecstatic' WHERE id = 1; COMMIT;");
  EXPECT_TRUE(has(j, "enum_value_used_in_transaction")) << ::testing::PrintToString(j.rules);
  EXPECT_EQ(j.outcome, Outcome::warn);
  // One simple-protocol message is one implicit transaction.
  EXPECT_TRUE(has(judge("ALTER TYPE mood ADD VALUE 'x1'; SELECT 'x1'::mood"), "enum_value_used_in_transaction"));
  // An open transaction on the session counts too.
  EXPECT_TRUE(has(judge("ALTER TYPE mood ADD VALUE 'x1'; INSERT INTO p (m) VALUES ('x1')", 'T'),
                  "enum_value_used_in_transaction"));
  // After COMMIT it is usable; other labels are not affected; on its own ADD VALUE is fine.
  EXPECT_FALSE(has(judge("BEGIN; ALTER TYPE mood ADD VALUE 'x2'; COMMIT; UPDATE p SET m = 'x2';"),
                   "enum_value_used_in_transaction"));
  EXPECT_FALSE(has(judge("BEGIN; ALTER TYPE mood ADD VALUE 'x3'; UPDATE p SET m = 'ok'; COMMIT;"),
                   "enum_value_used_in_transaction"));
  EXPECT_FALSE(has(judge("BEGIN; ALTER TYPE mood ADD VALUE 'x4'; ALTER TYPE mood ADD VALUE 'x5' AFTER 'x4'; COMMIT;"),
                   "enum_value_used_in_transaction"));
  EXPECT_EQ(judge("ALTER TYPE mood ADD VALUE 'x6'").outcome, Outcome::pass);
  // Before PostgreSQL 12 ADD VALUE itself cannot run inside a transaction block.
  EXPECT_TRUE(has(judge("BEGIN; ALTER TYPE mood ADD VALUE 'x7'; COMMIT;", 'I', 110000), "transaction_block_forbidden"));
  EXPECT_FALSE(has(judge("ALTER TYPE mood ADD VALUE 'x7'", 'I', 110000), "transaction_block_forbidden"));
}

TEST(ObjectRules, PolicyOverridesApply) {
  auto r = load_policy_text("rules:\n  replace_view: pass\n  revoke_privileges: hold\n");
  ASSERT_TRUE(r.ok()) << r.error_text("policy");
  const PolicyEngine engine{r.policy};
  SessionInfo s;
  s.lock_timeout_set = true;
  EXPECT_EQ(engine.evaluate("CREATE OR REPLACE VIEW v AS SELECT 1", s, nullptr).outcome, Outcome::pass);
  EXPECT_EQ(engine.evaluate("REVOKE ALL ON orders FROM app", s, nullptr).outcome, Outcome::hold);
}

}  // namespace
}  // namespace schemagate::policy
