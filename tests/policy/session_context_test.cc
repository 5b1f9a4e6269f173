// Decisions that follow what the session really is: its transaction state (failed, tables it
// created) and the role it runs as (SET ROLE, live identity).
#include <gtest/gtest.h>

#include <algorithm>

#include "policy/engine.h"
#include "tests/policy/fake_facts.h"

namespace schemagate::policy {
namespace {

SessionInfo in_state(char tx) {
  SessionInfo s;
  s.user = "app";
  s.lock_timeout_set = true;
  s.tx_status = tx;
  return s;
}

TEST(FailedTransaction, NothingRunsSoNothingIsStopped) {
  PolicyEngine engine{config::Policy{}};
  EXPECT_EQ(engine.evaluate("DROP TABLE t", in_state('E'), nullptr).outcome, Outcome::pass);
  EXPECT_EQ(engine.evaluate("SELECT 1; DROP TABLE t", in_state('E'), nullptr).outcome, Outcome::pass);
  EXPECT_EQ(engine.evaluate("DROP TABLE t", in_state('T'), nullptr).outcome, Outcome::hold);
}

TEST(FailedTransaction, WhatRunsAfterARollbackIsJudged) {
  PolicyEngine engine{config::Policy{}};
  for (const char* sql : {"ROLLBACK; DROP TABLE t", "ROLLBACK TO SAVEPOINT s; DROP TABLE t", "COMMIT; DROP TABLE t",
                          "ABORT; DROP TABLE t"})
    EXPECT_EQ(engine.evaluate(sql, in_state('E'), nullptr).outcome, Outcome::hold) << sql;
  // A ROLLBACK sent just before, not answered yet: the transaction may be over when this runs.
  SessionInfo pending = in_state('E');
  pending.replies_pending = true;
  EXPECT_EQ(engine.evaluate("DROP TABLE t", pending, nullptr).outcome, Outcome::hold);
}

TEST(CreatedInThisTransaction, TablesFromEarlierMessagesCountAsNew) {
  PolicyEngine engine{config::Policy{}};
  FakeFacts facts;
  facts.search_path["fresh"] = "public";
  facts.search_path["old"] = "public";
  facts.created_here = {{"public", "fresh"}};
  // A CREATE INDEX on a table nobody else can see yet blocks nobody: no rewrite, no SG005.
  const auto fresh = engine.evaluate("CREATE INDEX ON fresh (a)", in_state('T'), &facts);
  EXPECT_EQ(fresh.outcome, Outcome::pass);
  const auto old = engine.evaluate("CREATE INDEX ON old (a)", in_state('T'), &facts);
  EXPECT_EQ(old.outcome, Outcome::reject);  // needs CONCURRENTLY, which cannot run in a block
  EXPECT_EQ(engine.evaluate("DROP TABLE fresh", in_state('T'), &facts).outcome, Outcome::pass);
  EXPECT_EQ(engine.evaluate("DROP TABLE old", in_state('T'), &facts).outcome, Outcome::hold);
}

// ---- A long statement after the transaction locked its table ACCESS EXCLUSIVE

const StatementDecision* decision_of(const BatchDecision& b, const std::string& tag) {
  for (const auto& d : b.statements)
    if (d.statement.tag == tag) return &d;
  return nullptr;
}

bool stopped_by_the_lock(const BatchDecision& b, const std::string& tag) {
  const auto* d = decision_of(b, tag);
  return d && std::find(d->rule_ids.begin(), d->rule_ids.end(), "long_statement_under_exclusive_lock") != d->rule_ids.end();
}

TEST(ExclusiveLockInTheTransaction, TheBackfillAfterAddColumnIsStoppedInTheSameMessage) {
  PolicyEngine engine{config::Policy{}};
  FakeFacts facts;
  facts.rows["big"] = 5'000'000;
  facts.rows["tiny"] = 10;
  SessionInfo s = in_state('I');
  // The classic migration: ADD COLUMN (brief), then a backfill that holds the ADD's lock for
  // its whole run, since both are in one transaction (explicit, or one multi-statement message).
  for (const char* sql : {"BEGIN; ALTER TABLE big ADD COLUMN c int; UPDATE big SET c = 0; COMMIT",
                          "ALTER TABLE big ADD COLUMN c int; UPDATE big SET c = 0",
                          "BEGIN; ALTER TABLE big ADD COLUMN c int; UPDATE big SET c = 0 WHERE c IS NULL; COMMIT",
                          "BEGIN; LOCK TABLE big; DELETE FROM big; COMMIT"}) {
    const auto b = engine.evaluate(sql, s, &facts);
    EXPECT_EQ(b.outcome, Outcome::reject) << sql;
    const char* tag = std::string(sql).find("DELETE") != std::string::npos ? "DELETE" : "UPDATE";
    EXPECT_TRUE(stopped_by_the_lock(b, tag)) << sql;
  }
  const auto idx = engine.evaluate("BEGIN; ALTER TABLE big ADD COLUMN c int; CREATE INDEX i ON big (c); COMMIT", s, &facts);
  EXPECT_TRUE(stopped_by_the_lock(idx, "CREATE INDEX"));
  const auto fk = engine.evaluate(
      "BEGIN; SET lock_timeout = '1s'; ALTER TABLE big ADD COLUMN c int; "
      "ALTER TABLE big ADD CONSTRAINT c_pos CHECK (c > 0) NOT VALID; COMMIT; ALTER TABLE big VALIDATE CONSTRAINT c_pos",
      s, &facts);
  EXPECT_FALSE(stopped_by_the_lock(fk, "ALTER TABLE")) << "VALIDATE after COMMIT runs under no earlier lock";
}

TEST(ExclusiveLockInTheTransaction, WhatIsShortSmallOrUnlockedIsNotStopped) {
  PolicyEngine engine{config::Policy{}};
  FakeFacts facts;
  facts.rows["big"] = 5'000'000;
  facts.rows["other"] = 5'000'000;
  facts.rows["tiny"] = 10;
  facts.search_path["fresh"] = "public";
  facts.created_here = {{"public", "fresh"}};
  SessionInfo s = in_state('I');
  s.lock_timeout_set = true;
  for (const char* sql : {
           // A batch of a batched backfill, a keyed update: not every row.
           "BEGIN; ALTER TABLE big ADD COLUMN c int; UPDATE big SET c = 0 WHERE id BETWEEN 1 AND 1000; COMMIT",
           "BEGIN; ALTER TABLE big ADD COLUMN c int; UPDATE big SET c = 0 WHERE id = 5; COMMIT",
           // Another table, a small one, one created in the transaction.
           "BEGIN; ALTER TABLE big ADD COLUMN c int; UPDATE other SET c = 0; COMMIT",
           "BEGIN; ALTER TABLE tiny ADD COLUMN c int; UPDATE tiny SET c = 0; COMMIT",
           "BEGIN; ALTER TABLE fresh ADD COLUMN c int; UPDATE fresh SET c = 0; COMMIT",
           // The lock is gone after COMMIT; autocommit statements each have their own.
           "BEGIN; ALTER TABLE big ADD COLUMN c int; COMMIT; UPDATE big SET c = 0",
           // A weaker lock than ACCESS EXCLUSIVE (SHARE UPDATE EXCLUSIVE) does not block readers.
           "BEGIN; ALTER TABLE big SET (fillfactor = 90); UPDATE big SET c = 0; COMMIT",
       }) {
    const auto b = engine.evaluate(sql, s, &facts);
    EXPECT_FALSE(stopped_by_the_lock(b, "UPDATE")) << sql;
  }
  // Without the lock, a whole-table UPDATE is ordinary DML: the fast path, not even parsed.
  EXPECT_TRUE(engine.evaluate("UPDATE big SET c = 0", in_state('T'), &facts).fast_path);
}

TEST(ExclusiveLockInTheTransaction, ALockTakenByAnEarlierMessageComesFromTheLiveFacts) {
  PolicyEngine engine{config::Policy{}};
  FakeFacts facts;
  facts.rows["big"] = 5'000'000;
  facts.exclusive_here = {"big"};
  SessionInfo s = in_state('T');
  s.exclusive_lock_held = true;  // the proxy saw the ALTER pass: DML is judged too
  EXPECT_FALSE(engine.evaluate("UPDATE big SET c = 0", s, &facts).fast_path);
  EXPECT_EQ(engine.evaluate("UPDATE big SET c = 0", s, &facts).outcome, Outcome::reject);
  EXPECT_EQ(engine.evaluate("VACUUM big", s, &facts).outcome, Outcome::reject);  // refused in a block anyway
  EXPECT_EQ(engine.evaluate("ALTER TABLE big VALIDATE CONSTRAINT k", s, &facts).outcome, Outcome::reject);
  EXPECT_EQ(engine.evaluate("UPDATE big SET c = 0 WHERE id < 100", s, &facts).outcome, Outcome::pass);
  // The proxy asks for the facts of a whole-table DML target only while the flag is up.
  EXPECT_EQ(engine.referenced_tables("UPDATE big SET c = 0", {}, true).size(), 1u);
  EXPECT_TRUE(engine.referenced_tables("UPDATE big SET c = 0 WHERE id = 1", {}, true).empty());
  EXPECT_TRUE(engine.referenced_tables("UPDATE big SET c = 0").empty());
  facts.exclusive_here.clear();
  EXPECT_EQ(engine.evaluate("UPDATE big SET c = 0", s, &facts).outcome, Outcome::pass);
}

// ---- TimeZone: timestamp <-> timestamptz is free under a fixed UTC zone (PostgreSQL 12+)

bool has_rule(const BatchDecision& b, const std::string& rule) {
  for (const auto& d : b.statements)
    for (const auto& f : d.findings)
      if (f.rule_id == rule) return true;
  return false;
}

TEST(SessionTimeZone, MakesTimestampToTimestamptzFreeOnlyWhereTheServerSkipsTheRewrite) {
  PolicyEngine engine{config::Policy{}};
  FakeFacts facts;
  facts.rows["events"] = 5'000'000;
  facts.column_types["events.at"] = "timestamp without time zone";
  facts.column_types["events.at3"] = "timestamp(3) with time zone";
  SessionInfo s = in_state('I');
  const auto judge = [&](const std::string& zone, const std::string& sql) {
    SessionInfo z = s;
    z.time_zone = zone;
    return engine.evaluate(sql, z, &facts);
  };
  const std::string to_tz = "ALTER TABLE events ALTER COLUMN at TYPE timestamptz";
  for (const char* zone : {"UTC", "Etc/UTC", "GMT", "utc", "Etc/Universal", "Zulu"}) {
    const auto b = judge(zone, to_tz);
    EXPECT_FALSE(has_rule(b, "alter_column_type")) << zone;
    EXPECT_FALSE(b.statements[0].statement.rewrites_table) << zone;
    EXPECT_EQ(b.outcome, Outcome::pass) << zone;
  }
  // A zone with an offset or with daylight saving rules: every value is converted, a rewrite.
  for (const char* zone : {"Europe/Paris", "America/New_York", "Etc/GMT+1", "", "localtime"})
    EXPECT_TRUE(has_rule(judge(zone, to_tz), "alter_column_type")) << "'" << zone << "'";
  // The other direction, keeping the precision (format_type puts it in the middle).
  EXPECT_FALSE(has_rule(judge("UTC", "ALTER TABLE events ALTER at3 TYPE timestamp(3)"), "alter_column_type"));
  EXPECT_TRUE(has_rule(judge("Europe/Paris", "ALTER TABLE events ALTER at3 TYPE timestamp(3)"), "alter_column_type"));
  // timestamptz(3) → timestamp(3) was once read as timestamp(3) → timestamp(3): never "free" outside UTC.
  EXPECT_TRUE(has_rule(judge("", "ALTER TABLE events ALTER at3 TYPE timestamp(3)"), "alter_column_type"));
  EXPECT_TRUE(has_rule(judge("UTC", "ALTER TABLE events ALTER at3 TYPE timestamp(6)"), "alter_column_type"));
  EXPECT_TRUE(has_rule(judge("UTC", "ALTER TABLE events ALTER at TYPE timestamptz USING at + interval '1h'"),
                       "alter_column_type"));
  // Anything before it in the message that may change the zone: unknown, assume the rewrite.
  for (const char* before : {"SET TimeZone = 'Europe/Paris'; ", "SET TIME ZONE 'Europe/Paris'; ", "RESET ALL; ",
                             "SELECT set_config('TimeZone', 'Europe/Paris', false); ", "COMMIT; ", "ROLLBACK; ",
                             "DISCARD ALL; "})
    EXPECT_TRUE(has_rule(judge("UTC", before + to_tz), "alter_column_type")) << before;
  for (const char* before : {"BEGIN; ", "SET lock_timeout = '2s'; ", "SAVEPOINT a; "})
    EXPECT_FALSE(has_rule(judge("UTC", before + to_tz), "alter_column_type")) << before;
  // A reply still due may change it; and PostgreSQL 11 always rewrote.
  SessionInfo pending = s;
  pending.time_zone = "UTC";
  pending.replies_pending = true;
  EXPECT_TRUE(has_rule(engine.evaluate(to_tz, pending, &facts), "alter_column_type"));
  facts.version = 110000;
  SessionInfo old = s;
  old.time_zone = "UTC";
  old.server_version_num = 110000;
  EXPECT_TRUE(has_rule(engine.evaluate(to_tz, old, &facts), "alter_column_type"));
}

config::Policy scoped_policy() {
  config::Policy p;
  config::PolicyScope app;
  app.name = "app";
  app.match.users = {"app"};
  app.action = Outcome::reject;
  config::PolicyScope deploy;
  deploy.name = "deploys";
  deploy.match.roles = {"deployer"};
  deploy.rules["drop_table"] = Outcome::pass;
  p.scopes = {app, deploy};
  return p;
}

TEST(ScopesFollowTheRole, SetRoleInTheMessageSwitchesScopeForWhatFollows) {
  PolicyEngine engine{scoped_policy()};
  EXPECT_TRUE(engine.scopes_match_identity());
  SessionInfo admin = in_state('I');
  admin.user = "postgres";
  const auto d = engine.evaluate("DROP TABLE t; SET ROLE app; DROP TABLE u; RESET ROLE; DROP TABLE v", admin, nullptr);
  ASSERT_EQ(d.statements.size(), 5u);
  EXPECT_EQ(d.statements[0].outcome, Outcome::hold);    // postgres: the built-in rules
  EXPECT_EQ(d.statements[2].outcome, Outcome::reject);  // as app
  EXPECT_EQ(d.statements[2].scope, "app");
  EXPECT_EQ(d.statements[4].outcome, Outcome::hold);    // back to postgres
  const auto auth = engine.evaluate("SET SESSION AUTHORIZATION app; DROP TABLE u", admin, nullptr);
  EXPECT_EQ(auth.outcome, Outcome::reject);
  EXPECT_FALSE(PolicyEngine{config::Policy{}}.scopes_match_identity());
}

TEST(ScopesFollowTheRole, LiveIdentityOverridesTheLoginName) {
  PolicyEngine engine{scoped_policy()};
  FakeFacts facts;
  facts.who = CatalogFacts::Identity{"app", {}};
  SessionInfo admin = in_state('I');
  admin.user = "postgres";
  EXPECT_EQ(engine.evaluate("DROP TABLE t", admin, &facts).outcome, Outcome::reject);
  facts.who = CatalogFacts::Identity{"ops", {"deployer"}};  // ops was granted deployer
  EXPECT_EQ(engine.evaluate("DROP TABLE t", admin, &facts).outcome, Outcome::pass);
  // SET SESSION AUTHORIZATION seen in ParameterStatus.
  SessionInfo authed = in_state('I');
  authed.user = "postgres";
  authed.role = "app";
  EXPECT_EQ(engine.evaluate("DROP TABLE t", authed, nullptr).outcome, Outcome::reject);
}

TEST(ScopesFollowTheRole, SetRoleInsideABodySwitchesScopeForWhatFollowsInIt) {
  PolicyEngine engine{scoped_policy()};
  SessionInfo bob = in_state('I');
  bob.user = "bob";
  bob.roles = {"deployer"};  // the deploys scope lets DROP TABLE pass
  EXPECT_EQ(engine.evaluate("DO $$BEGIN DROP TABLE t; END$$", bob, nullptr).outcome, Outcome::pass);
  // The body becomes app (whose scope refuses everything) before the DROP: judged as app.
  const auto as_app = engine.evaluate("DO $$BEGIN SET ROLE app; DROP TABLE t; END$$", bob, nullptr);
  EXPECT_EQ(as_app.outcome, Outcome::reject);
  bool names_scope = false;
  for (const auto& f : as_app.statements[0].findings) names_scope = names_scope || f.message.find("'app'") != std::string::npos;
  EXPECT_TRUE(names_scope);
  // Back to the session user before the DROP: the deployer's scope again.
  EXPECT_EQ(engine.evaluate("DO $$BEGIN SET ROLE app; RESET ROLE; DROP TABLE t; END$$", bob, nullptr).outcome,
            Outcome::pass);
  EXPECT_EQ(engine.evaluate("DO $$BEGIN SET SESSION AUTHORIZATION app; DROP TABLE t; END$$", bob, nullptr).outcome,
            Outcome::reject);
  // A function body too: judged at CREATE as its statements would run.
  EXPECT_EQ(engine.evaluate("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$BEGIN SET ROLE app; "
                            "DROP TABLE t; END$$", bob, nullptr).outcome,
            Outcome::reject);
}

}  // namespace
}  // namespace schemagate::policy
