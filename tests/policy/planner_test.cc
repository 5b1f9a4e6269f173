#include "policy/planner.h"

#include <gtest/gtest.h>
#include <pg_query/pg_query.pb-c.h>

#include "policy/classifier.h"
#include "policy/engine.h"
#include "policy/migration_tools.h"
#include "policy/names.h"
#include "tests/policy/fake_facts.h"

namespace schemagate::policy {
namespace {

struct Planned {
  std::optional<Plan> plan;
  std::string why_not;
};

Planned plan_for(const std::string& sql, std::vector<std::string> rules, int version = 150000,
                 config::PolicyThresholds th = {}, const CatalogFacts* facts = nullptr) {
  SyntaxError err;
  auto b = ParsedBatch::parse(sql, &err);
  EXPECT_NE(b, nullptr) << err.message;
  Statement s;
  classify(b->tree()->stmts[0]->stmt, nullptr, s);
  std::vector<Finding> findings;
  for (auto& r : rules) findings.push_back(Finding{r, Outcome::rewrite, "", "", ""});
  Planned out;
  out.plan = DefaultPlanner().plan(s, findings, PlanContext{&th, version, facts}, out.why_not);
  return out;
}

// Every generated statement parses back to exactly one statement.
void expect_parseable(const Plan& p) {
  for (const auto& ph : p.phases) {
    if (ph.kind == PhaseKind::backfill) continue;  // its batches are generated at run time
    SyntaxError err;
    auto b = ParsedBatch::parse(ph.sql, &err);
    ASSERT_NE(b, nullptr) << ph.sql << ": " << err.message;
    EXPECT_EQ(b->tree()->n_stmts, 1u) << ph.sql;
    if (!ph.cleanup_sql.empty()) {
      EXPECT_NE(ParsedBatch::parse(ph.cleanup_sql, &err), nullptr) << ph.cleanup_sql;
    }
  }
}

TEST(Planner, CreateIndexBecomesConcurrentWithCleanup) {
  config::PolicyThresholds th;
  th.lock_timeout_ms = 1500;
  th.retry_attempts = 7;
  th.retry_backoff_ms = 250;
  const auto r = plan_for("CREATE INDEX ON app.orders (created_at)", {"require_concurrent_index"}, 150000, th);
  ASSERT_TRUE(r.plan) << r.why_not;
  ASSERT_EQ(r.plan->phases.size(), 1u);
  const Phase& p = r.plan->phases[0];
  EXPECT_EQ(p.sql, "CREATE INDEX CONCURRENTLY orders_created_at_idx ON app.orders USING btree (created_at)");
  EXPECT_TRUE(p.outside_transaction());
  EXPECT_EQ(p.kind, PhaseKind::autocommit);
  EXPECT_EQ(p.lock_timeout_ms, 1500u);
  EXPECT_EQ(p.retry.max_attempts, 7u);
  EXPECT_EQ(p.retry.backoff_ms, 250u);
  EXPECT_EQ(p.cleanup_sql, "DROP INDEX CONCURRENTLY IF EXISTS app.orders_created_at_idx");
  EXPECT_TRUE(r.plan->needs_outside_transaction());
  EXPECT_EQ(r.plan->rule_id, "require_concurrent_index");
  expect_parseable(*r.plan);
}

TEST(Planner, ForeignKeyBecomesNotValidPlusValidate) {
  const auto r = plan_for("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES customers (id)", {"add_foreign_key"});
  ASSERT_TRUE(r.plan) << r.why_not;
  ASSERT_EQ(r.plan->phases.size(), 2u);
  EXPECT_FALSE(r.plan->phases[0].outside_transaction());
  EXPECT_TRUE(r.plan->phases[1].outside_transaction());  // must commit separately from the ADD
  // Only lock timeouts (55P03) are retried, so VALIDATE keeps the policy's retries: a data
  // failure fails at once anyway.
  EXPECT_EQ(r.plan->phases[1].retry.max_attempts, 5u);
  EXPECT_EQ(r.plan->phases[1].kind, PhaseKind::online);
  EXPECT_EQ(r.plan->phases[1].cleanup_sql, "ALTER TABLE orders DROP CONSTRAINT IF EXISTS fk");
  expect_parseable(*r.plan);
}

TEST(Planner, VolatileDefaultNotNullSevenPhases) {
  config::PolicyThresholds th;
  th.backfill_batch_rows = 500;
  const auto r = plan_for("ALTER TABLE \"T\" ADD COLUMN \"Tok\" uuid NOT NULL DEFAULT gen_random_uuid()",
                          {"add_column_volatile_default"}, 150000, th);
  ASSERT_TRUE(r.plan) << r.why_not;
  ASSERT_EQ(r.plan->phases.size(), 7u);
  EXPECT_EQ(r.plan->phases[0].sql, "ALTER TABLE \"T\" ADD COLUMN \"Tok\" uuid");
  ASSERT_TRUE(r.plan->phases[2].backfill.has_value());
  EXPECT_EQ(r.plan->phases[2].kind, PhaseKind::backfill);
  EXPECT_EQ(r.plan->phases[2].backfill->batch_rows, 500u);
  EXPECT_EQ(r.plan->phases[2].backfill->column, "\"Tok\"");
  EXPECT_EQ(r.plan->phases[5].sql, "ALTER TABLE \"T\" ALTER COLUMN \"Tok\" SET NOT NULL");
  expect_parseable(*r.plan);
}

TEST(Planner, RefusesWhatItCannotDoSafely) {
  // A rule that names no action of the statement: nothing to plan it with.
  EXPECT_FALSE(plan_for("ALTER TABLE t ADD COLUMN a int, ADD COLUMN b int", {"add_column_volatile_default"}).plan);
  EXPECT_FALSE(plan_for("DROP INDEX a CASCADE", {"require_concurrent_drop_index"}).plan);
  EXPECT_FALSE(plan_for("REINDEX TABLE t", {"require_concurrent_reindex"}, 110000).plan);
  EXPECT_FALSE(plan_for("ALTER TABLE t ALTER COLUMN c SET NOT NULL", {"set_not_null"}, 110000).plan);
  EXPECT_FALSE(plan_for("ALTER TABLE t ADD COLUMN c serial", {"add_column_volatile_default"}).plan);
  // A finding this path does not handle: no plan rather than a partial one.
  auto r = plan_for("CREATE INDEX i ON t (a)", {"require_concurrent_index", "drop_table"});
  EXPECT_FALSE(r.plan);
  EXPECT_FALSE(r.why_not.empty());
}

// The engine uses the planner it is given; a planner that refuses turns a rewrite into a reject.
class RefusingPlanner final : public Planner {
 public:
  std::optional<Plan> plan(const Statement&, const std::vector<Finding>&, const PlanContext&,
                           std::string& why_not) const override {
    why_not = "refused by test planner";
    return std::nullopt;
  }
};

TEST(Planner, EngineRejectsWhenNoPlan) {
  PolicyEngine engine(config::Policy{}, std::make_unique<RefusingPlanner>());
  SessionInfo s;
  s.lock_timeout_set = true;
  OfflineFacts facts;
  const auto d = engine.evaluate("CREATE INDEX i ON t (a)", s, &facts);
  ASSERT_EQ(d.statements.size(), 1u);
  EXPECT_EQ(d.outcome, Outcome::reject);
  EXPECT_EQ(d.statements[0].sqlstate, "SG001");
  EXPECT_NE(d.statements[0].message.find("refused by test planner"), std::string::npos);
  EXPECT_FALSE(d.statements[0].plan);
}

}  // namespace
}  // namespace schemagate::policy
