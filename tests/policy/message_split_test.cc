// A multi-statement simple Query is one implicit transaction: a statement that must run outside
// one (a CONCURRENTLY rewrite, CREATE INDEX CONCURRENTLY, VACUUM) cannot run in it, and a plan
// must never take the place of the whole message. When the other statements are read-only
// queries, the message is split: they become passthrough phases around the statement's plan.
#include <gtest/gtest.h>

#include "policy/engine.h"

namespace schemagate::policy {
namespace {

SessionInfo idle_session(bool lock_timeout_set = true) {
  SessionInfo s;
  s.user = "deploy";
  s.lock_timeout_set = lock_timeout_set;
  return s;
}

std::vector<PhaseKind> kinds(const Plan& p) {
  std::vector<PhaseKind> k;
  for (const auto& ph : p.phases) k.push_back(ph.kind);
  return k;
}

TEST(MessageSplit, ReadOnlyQueriesRunAsWrittenAroundTheRewrittenStatement) {
  PolicyEngine engine{config::Policy{}};
  const auto d = engine.evaluate("SELECT 1;  CREATE INDEX i ON t (a) ;\n SHOW work_mem ", idle_session(), nullptr);
  ASSERT_EQ(d.outcome, Outcome::rewrite);
  ASSERT_EQ(d.decisive_index(), 1);
  const auto& s = d.statements[1];
  ASSERT_TRUE(s.plan);
  EXPECT_EQ(kinds(*s.plan), (std::vector<PhaseKind>{PhaseKind::passthrough, PhaseKind::autocommit, PhaseKind::passthrough}));
  EXPECT_EQ(s.plan->phases[0].sql, "SELECT 1");  // the client's text, trimmed
  EXPECT_EQ(s.plan->phases[1].sql, "CREATE INDEX CONCURRENTLY i ON t USING btree (a)");
  EXPECT_EQ(s.plan->phases[2].sql, "SHOW work_mem");
  EXPECT_EQ(s.plan->own_phase_count(), 1u);
  EXPECT_EQ(s.message,
            "schemagate: CREATE INDEX rewritten by rule require_concurrent_index (1 phase; the message's 2 other "
            "statements run as written, in order)");
  for (std::size_t i : {0u, 2u}) EXPECT_FALSE(d.statements[i].plan);
}

TEST(MessageSplit, AStatementPostgresRefusesInTheMessageRunsOnItsOwnBetweenTheQueries) {
  PolicyEngine engine{config::Policy{}};
  // Sent directly, PostgreSQL refuses both messages (25001: cannot run inside a transaction block).
  const auto cic = engine.evaluate("CREATE INDEX CONCURRENTLY i ON t (a); SELECT count(*) FROM t", idle_session(), nullptr);
  ASSERT_EQ(cic.outcome, Outcome::rewrite) << cic.statements[0].message;
  const auto& s = cic.statements[0];
  EXPECT_EQ(s.rule_ids, std::vector<std::string>{"concurrently_in_transaction"});
  EXPECT_EQ(kinds(*s.plan), (std::vector<PhaseKind>{PhaseKind::autocommit, PhaseKind::passthrough}));
  EXPECT_EQ(s.plan->phases[0].sql, "CREATE INDEX CONCURRENTLY i ON t USING btree (a)");
  EXPECT_GT(s.plan->phases[0].lock_timeout_ms, 0u);  // and never queued behind a lock for long

  const auto vacuum = engine.evaluate("SELECT 1; VACUUM t", idle_session(), nullptr);
  ASSERT_EQ(vacuum.outcome, Outcome::rewrite);
  EXPECT_EQ(vacuum.statements[1].rule_ids, std::vector<std::string>{"transaction_block_forbidden"});
  EXPECT_EQ(kinds(*vacuum.statements[1].plan), (std::vector<PhaseKind>{PhaseKind::passthrough, PhaseKind::autocommit}));
}

TEST(MessageSplit, NotSplitWhenAnotherStatementDoesMoreThanRead) {
  PolicyEngine engine{config::Policy{}};
  for (const char* sql : {
           "INSERT INTO t VALUES (1); CREATE INDEX i ON t (a)",
           "WITH gone AS (DELETE FROM t RETURNING 1) SELECT count(*) FROM gone; CREATE INDEX i ON t (a)",
           "SELECT * INTO t_copy FROM t; CREATE INDEX i ON t (a)",
           "SET lock_timeout = '1s'; CREATE INDEX CONCURRENTLY i ON t (a)",
           "EXPLAIN ANALYZE INSERT INTO t VALUES (1); CREATE INDEX i ON t (a)",
           "CREATE INDEX i ON t (a); CREATE INDEX j ON t (b)",
       }) {
    const auto d = engine.evaluate(sql, idle_session(), nullptr);
    EXPECT_EQ(d.outcome, Outcome::reject) << sql;
    for (const auto& s : d.statements) {
      EXPECT_FALSE(s.plan) << sql;
      if (s.outcome == Outcome::reject) {
        EXPECT_EQ(s.sqlstate, "SG005") << sql;
      }
    }
  }
}

// The bug this closes: a plan that needs no transaction of its own (a statement guarded by
// lock_timeout) was run in place of the whole message, and the message's INSERT never ran.
TEST(MessageSplit, APlanThatWouldReplaceTheWholeMessageIsRefused) {
  config::Policy p;
  p.rules["require_lock_timeout"] = Outcome::rewrite;
  PolicyEngine engine{p};
  const auto alone = engine.evaluate("ALTER TABLE t ADD COLUMN c int", idle_session(false), nullptr);
  ASSERT_EQ(alone.outcome, Outcome::rewrite);
  ASSERT_EQ(kinds(*alone.statements[0].plan), std::vector<PhaseKind>{PhaseKind::guarded});

  const auto d = engine.evaluate("INSERT INTO t VALUES (1); ALTER TABLE t ADD COLUMN c int", idle_session(false), nullptr);
  ASSERT_EQ(d.outcome, Outcome::reject);
  const auto& s = d.statements[1];
  EXPECT_FALSE(s.plan);
  EXPECT_EQ(s.sqlstate, "SG001");
  EXPECT_NE(s.message.find("shares its message with statements that are not read-only queries"), std::string::npos)
      << s.message;
  EXPECT_NE(s.hint.find("message of its own"), std::string::npos);

  // Beside queries only, the same statement is split.
  const auto split = engine.evaluate("SELECT 1; ALTER TABLE t ADD COLUMN c int; SELECT 2", idle_session(false), nullptr);
  ASSERT_EQ(split.outcome, Outcome::rewrite);
  EXPECT_EQ(kinds(*split.statements[1].plan),
            (std::vector<PhaseKind>{PhaseKind::passthrough, PhaseKind::guarded, PhaseKind::passthrough}));
}

TEST(MessageSplit, InsideATransactionBlockOrAScriptNothingIsSplit) {
  PolicyEngine engine{config::Policy{}};
  SessionInfo in_tx = idle_session();
  in_tx.tx_status = 'T';
  const auto d = engine.evaluate("SELECT 1; CREATE INDEX i ON t (a)", in_tx, nullptr);
  ASSERT_EQ(d.outcome, Outcome::reject);
  EXPECT_EQ(d.statements[1].sqlstate, "SG005");
  // `schemagate check`/`plan` read a file, not a message: its statements are planned one by one.
  const auto script = engine.evaluate_script("SELECT 1; CREATE INDEX i ON t (a)", idle_session(), nullptr);
  ASSERT_EQ(script.outcome, Outcome::rewrite);
  EXPECT_EQ(kinds(*script.statements[1].plan), std::vector<PhaseKind>{PhaseKind::autocommit});
}

TEST(MessageSplit, AHeldStatementInAMessageThatIsNotSplitRunsAsWrittenOnceApproved) {
  config::Policy p;
  p.rules["require_lock_timeout"] = Outcome::rewrite;
  config::PolicyScope scope;
  scope.name = "everything held";
  scope.action = Outcome::hold;
  p.scopes.push_back(scope);
  PolicyEngine engine{p};
  // Alone, the approved statement would run through its plan …
  const auto alone = engine.evaluate("ALTER TABLE t ADD COLUMN c int", idle_session(false), nullptr);
  ASSERT_EQ(alone.outcome, Outcome::hold);
  ASSERT_TRUE(alone.statements[0].plan);
  // … but beside an INSERT that plan would replace the whole message: it runs as written.
  const auto d = engine.evaluate("INSERT INTO t VALUES (1); ALTER TABLE t ADD COLUMN c int", idle_session(false), nullptr);
  ASSERT_EQ(d.outcome, Outcome::hold);
  EXPECT_FALSE(d.statements[1].plan);
  // Beside a query, it is split and runs through the plan once approved.
  const auto split = engine.evaluate("SELECT 1; ALTER TABLE t ADD COLUMN c int", idle_session(false), nullptr);
  ASSERT_EQ(split.outcome, Outcome::hold);
  ASSERT_TRUE(split.statements[1].plan);
  EXPECT_EQ(kinds(*split.statements[1].plan), (std::vector<PhaseKind>{PhaseKind::passthrough, PhaseKind::guarded}));
}

}  // namespace
}  // namespace schemagate::policy
