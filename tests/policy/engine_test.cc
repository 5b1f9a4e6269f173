#include "policy/engine.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/policy/fake_facts.h"

namespace schemagate::policy {
namespace {

SessionInfo guarded() {
  SessionInfo s;
  s.user = "deploy";
  s.lock_timeout_set = true;
  return s;
}

TEST(Engine, OrdinaryTrafficTakesTheFastPathWithoutParsing) {
  PolicyEngine engine{config::Policy{}};
  const auto d = engine.evaluate("SELECT * FROM t WHERE note = 'DROP TABLE t'", guarded(), nullptr);
  EXPECT_TRUE(d.fast_path);
  EXPECT_TRUE(d.statements.empty());
  EXPECT_EQ(d.outcome, Outcome::pass);
  EXPECT_EQ(engine.cache_stats().misses, 0u);
}

TEST(Engine, ObserveModeReportsButDoesNotEnforce) {
  config::Policy p;
  p.mode = config::PolicyMode::observe;
  PolicyEngine engine{p};
  const auto d = engine.evaluate("DROP TABLE t", guarded(), nullptr);
  EXPECT_EQ(d.outcome, Outcome::hold);
  EXPECT_FALSE(d.enforced);
  PolicyEngine enforcing{config::Policy{}};
  EXPECT_TRUE(enforcing.evaluate("DROP TABLE t", guarded(), nullptr).enforced);
}

TEST(Engine, RejectCarriesMessageDetailHintAndSqlstate) {
  PolicyEngine engine{config::Policy{}};
  const auto d = engine.evaluate("VACUUM FULL public.orders", guarded(), nullptr);
  ASSERT_EQ(d.statements.size(), 1u);
  const auto& s = d.statements[0];
  EXPECT_EQ(s.outcome, Outcome::reject);
  EXPECT_EQ(s.sqlstate, "SG001");
  EXPECT_EQ(s.message, "schemagate: VACUUM rejected by rule vacuum_full: VACUUM FULL rewrites public.orders");
  EXPECT_NE(s.detail.find("ACCESS EXCLUSIVE"), std::string::npos);
  EXPECT_NE(s.hint.find("pg_repack"), std::string::npos);
  EXPECT_TRUE(s.fingerprint.has_value());
  EXPECT_EQ(s.statement.node, nullptr);  // never hands out pointers into the cache
}

TEST(Engine, InTransactionRewriteIsSg005WithHint) {
  PolicyEngine engine{config::Policy{}};
  SessionInfo s = guarded();
  s.tx_status = 'T';
  const auto d = engine.evaluate("CREATE INDEX i ON t (a)", s, nullptr);
  ASSERT_EQ(d.statements.size(), 1u);
  EXPECT_EQ(d.statements[0].sqlstate, "SG005");
  EXPECT_NE(d.statements[0].hint.find("outside BEGIN"), std::string::npos);
  // The policy may instead forward it (guarded by lock_timeout in the proxy) …
  config::Policy p;
  p.rules["concurrently_in_transaction"] = Outcome::pass;
  PolicyEngine lenient{p};
  const auto d2 = lenient.evaluate("CREATE INDEX i ON t (a)", s, nullptr);
  EXPECT_EQ(d2.outcome, Outcome::pass);
  EXPECT_FALSE(d2.statements[0].plan);
  // … or hold it.
  p.rules["concurrently_in_transaction"] = Outcome::hold;
  EXPECT_EQ(PolicyEngine{p}.evaluate("CREATE INDEX i ON t (a)", s, nullptr).outcome, Outcome::hold);
}

// The SG005 detail names the phase that needs to run outside a transaction, not the first one.
TEST(Engine, InTransactionDetailNamesThePhaseThatCannotRunThere) {
  PolicyEngine engine{config::Policy{}};
  SessionInfo s = guarded();
  s.tx_status = 'T';
  const auto d = engine.evaluate("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid()", s, nullptr);
  ASSERT_EQ(d.statements.size(), 1u);
  EXPECT_EQ(d.statements[0].sqlstate, "SG005");
  EXPECT_NE(d.statements[0].detail.find("backfill"), std::string::npos) << d.statements[0].detail;
}

// Inside the client's transaction a constraint's VALIDATE waits for its COMMIT (after_commit);
// a plan whose online phase is not last, or a multi-statement string, still gets SG005.
TEST(Engine, InTransactionAConstraintsValidateWaitsForTheCommit) {
  PolicyEngine engine{config::Policy{}};
  SessionInfo s = guarded();
  s.tx_status = 'T';
  const auto d = engine.evaluate("ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (a) REFERENCES u (id)", s, nullptr);
  ASSERT_EQ(d.statements.size(), 1u);
  ASSERT_EQ(d.outcome, Outcome::rewrite) << d.statements[0].message;
  const auto& plan = *d.statements[0].plan;
  ASSERT_EQ(plan.phases.size(), 2u);
  EXPECT_EQ(plan.phases[0].kind, PhaseKind::guarded);
  EXPECT_EQ(plan.phases[1].kind, PhaseKind::after_commit);
  EXPECT_EQ(plan.phases[1].sql, "ALTER TABLE t VALIDATE CONSTRAINT t_fk");
  EXPECT_TRUE(plan.phases[1].cleanup_sql.empty());  // a committed constraint is not dropped behind the client's back
  EXPECT_FALSE(plan.needs_outside_transaction());
  // Outside a transaction the same statement validates in its own phase, as before.
  const auto outside = engine.evaluate("ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (a) REFERENCES u (id)", guarded(), nullptr);
  EXPECT_EQ(outside.statements[0].plan->phases[1].kind, PhaseKind::online);
  EXPECT_EQ(engine.evaluate("ALTER TABLE t ALTER COLUMN a SET NOT NULL", s, nullptr).statements[0].sqlstate, "SG005");
  SessionInfo idle = guarded();
  const auto multi = engine.evaluate("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0); INSERT INTO t VALUES (1)", idle, nullptr);
  EXPECT_EQ(multi.statements[0].sqlstate, "SG005");
}

TEST(Engine, DeferToCommitTakesOnlyATrailingRunOfOnlinePhases) {
  auto phase = [](PhaseKind k) {
    Phase p;
    p.kind = k;
    p.cleanup_sql = "undo";
    return p;
  };
  Plan fk;
  fk.phases = {phase(PhaseKind::guarded), phase(PhaseKind::online)};
  EXPECT_TRUE(defer_to_commit(fk));
  EXPECT_EQ(fk.phases[1].kind, PhaseKind::after_commit);
  EXPECT_EQ(fk.first_after_commit(), 1u);
  Plan middle;
  middle.phases = {phase(PhaseKind::guarded), phase(PhaseKind::online), phase(PhaseKind::guarded)};
  EXPECT_FALSE(defer_to_commit(middle));
  EXPECT_EQ(middle.phases[1].kind, PhaseKind::online);
  Plan alone;  // nothing would run in the transaction: nothing to wait for
  alone.phases = {phase(PhaseKind::online)};
  EXPECT_FALSE(defer_to_commit(alone));
  Plan index;
  index.phases = {phase(PhaseKind::guarded), phase(PhaseKind::autocommit)};
  EXPECT_FALSE(defer_to_commit(index));
}

TEST(Engine, TableSizeFromCatalogFacts) {
  PolicyEngine engine{config::Policy{}};
  FakeFacts facts;
  facts.rows["public.small"] = 100;
  facts.rows["public.big"] = 50'000'000;
  facts.search_path["small"] = "public";
  facts.search_path["big"] = "public";
  EXPECT_EQ(engine.evaluate("CREATE INDEX i ON small (a)", guarded(), &facts).outcome, Outcome::pass);
  EXPECT_EQ(engine.evaluate("CREATE INDEX i ON big (a)", guarded(), &facts).outcome, Outcome::rewrite);
  EXPECT_EQ(engine.evaluate("CREATE INDEX i ON unknown_size (a)", guarded(), &facts).outcome, Outcome::rewrite);
  config::Policy p;
  p.thresholds.small_table_rows = 10;  // 100 rows is no longer small
  EXPECT_EQ(PolicyEngine{p}.evaluate("CREATE INDEX i ON small (a)", guarded(), &facts).outcome, Outcome::rewrite);
}

TEST(Engine, CatalogFactsAvoidFalsePositives) {
  PolicyEngine engine{config::Policy{}};
  FakeFacts facts;
  facts.column_types["t.name"] = "character varying(50)";
  EXPECT_EQ(engine.evaluate("ALTER TABLE t ALTER COLUMN name TYPE varchar(100)", guarded(), &facts).outcome, Outcome::pass);
  EXPECT_EQ(engine.evaluate("ALTER TABLE t ALTER COLUMN name TYPE varchar(10)", guarded(), &facts).outcome, Outcome::reject);
  facts.constraint_map["t"] = {ConstraintInfo{"t_c_nn", 'c', "CHECK ((c IS NOT NULL))", true}};
  EXPECT_EQ(engine.evaluate("ALTER TABLE t ALTER COLUMN c SET NOT NULL", guarded(), &facts).outcome, Outcome::pass);
  facts.constraint_map["t"][0].validated = false;
  EXPECT_EQ(engine.evaluate("ALTER TABLE t ALTER COLUMN c SET NOT NULL", guarded(), &facts).outcome, Outcome::rewrite);
  facts.index_map["t"] = {IndexInfo{"t_c_idx", {"c", "d"}, false, true}};
  const auto fk = engine.evaluate("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES u (id) NOT VALID", guarded(), &facts);
  EXPECT_EQ(fk.outcome, Outcome::pass);
  facts.volatility["make_code"] = Volatility::stable;
  EXPECT_EQ(engine.evaluate("ALTER TABLE t ADD COLUMN code text DEFAULT make_code()", guarded(), &facts).outcome,
            Outcome::pass);
}

TEST(Engine, PartitionedTableIndexCannotBeBuiltConcurrently) {
  PolicyEngine engine{config::Policy{}};
  FakeFacts facts;
  facts.partitioned["measurements"] = true;
  const auto d = engine.evaluate("CREATE INDEX m_idx ON measurements (at)", guarded(), &facts);
  ASSERT_EQ(d.statements.size(), 1u);
  EXPECT_EQ(d.outcome, Outcome::reject);
  EXPECT_NE(d.statements[0].message.find("ON ONLY the parent"), std::string::npos) << d.statements[0].message;
  // ON ONLY the parent builds nothing (the parent has no storage): allowed as is.
  EXPECT_EQ(engine.evaluate("CREATE INDEX m_idx ON ONLY measurements (at)", guarded(), &facts).outcome, Outcome::pass);
}

TEST(Engine, ReportsLockTimeoutStateAfterTheMessage) {
  PolicyEngine engine{config::Policy{}};
  SessionInfo s;
  EXPECT_TRUE(engine.evaluate("SET lock_timeout = '3s'", s, nullptr).lock_timeout_set_after);
  EXPECT_FALSE(engine.evaluate("SELECT 1", s, nullptr).lock_timeout_set_after);
  s.lock_timeout_set = true;
  EXPECT_TRUE(engine.evaluate("SELECT 1", s, nullptr).lock_timeout_set_after);
  EXPECT_FALSE(engine.evaluate("RESET lock_timeout", s, nullptr).lock_timeout_set_after);
  EXPECT_FALSE(engine.evaluate("SET lock_timeout TO 0", s, nullptr).lock_timeout_set_after);
}

TEST(Engine, ServerVersionComesFromSessionThenFacts) {
  PolicyEngine engine{config::Policy{}};
  FakeFacts facts;
  facts.version = 100000;
  const char* sql = "ALTER TABLE t ADD COLUMN c int DEFAULT 0";
  EXPECT_EQ(engine.evaluate(sql, guarded(), &facts).outcome, Outcome::reject);  // PG 10: rewrite
  SessionInfo s = guarded();
  s.server_version_num = 150002;
  EXPECT_EQ(engine.evaluate(sql, s, &facts).outcome, Outcome::pass);
}

TEST(Engine, ReferencedTablesForPrefetch) {
  PolicyEngine engine{config::Policy{}};
  const auto t = engine.referenced_tables(
      "CREATE TABLE n (id int); ALTER TABLE app.orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES crm.c (id); SELECT 1");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].schema, "app");
  EXPECT_EQ(t[0].name, "orders");
  EXPECT_EQ(t[1].schema, "crm");
  EXPECT_TRUE(engine.referenced_tables("SELECT 1").empty());
}

TEST(Engine, ConcurrentEvaluationIsConsistent) {
  PolicyEngine engine{config::Policy{}, nullptr, 16};
  const std::vector<std::pair<std::string, Outcome>> work = {
      {"CREATE INDEX i ON t (a)", Outcome::rewrite}, {"DROP TABLE t", Outcome::hold},
      {"SELECT 1", Outcome::pass},                   {"VACUUM FULL t", Outcome::reject},
      {"ALTER TABLE t ADD COLUMN c int", Outcome::pass}};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const auto& [sql, want] = work[static_cast<std::size_t>(i + t) % work.size()];
        if (engine.evaluate(sql, guarded(), nullptr).outcome != want) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(engine.cache_stats().hits, 0u);
}

TEST(Engine, StatementPositionsAndTexts) {
  PolicyEngine engine{config::Policy{}};
  const auto d = engine.evaluate_script("-- header\nSELECT 1;\n\n   DROP TABLE t;\n", guarded(), nullptr);
  ASSERT_EQ(d.statements.size(), 2u);
  EXPECT_EQ(d.statements[1].statement.text, "DROP TABLE t");
  EXPECT_EQ(d.statements[1].statement.pos.line, 4);
  EXPECT_EQ(d.statements[1].statement.pos.column, 4);
  EXPECT_EQ(d.decisive_index(), 1);
}

TEST(Engine, GlobMatch) {
  EXPECT_TRUE(glob_match("billing.*", "billing.invoices"));
  EXPECT_FALSE(glob_match("billing.*", "public.invoices"));
  EXPECT_TRUE(glob_match("psql*", "psql"));
  EXPECT_TRUE(glob_match("*_tmp", "orders_tmp"));
  EXPECT_TRUE(glob_match("a?c", "abc"));
  EXPECT_FALSE(glob_match("a?c", "ac"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*a*b*", "xxaxxbxx"));
}

}  // namespace
}  // namespace schemagate::policy
