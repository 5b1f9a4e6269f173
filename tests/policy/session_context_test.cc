// Decisions that follow what the session really is: its transaction state (failed, tables it
// created) and the role it runs as (SET ROLE, live identity).
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace schemagate::policy
