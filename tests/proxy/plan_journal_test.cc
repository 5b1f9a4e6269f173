// The journal side of a plan: the plan read back from its JSON is the plan that was written
// (what `migrations resume` runs), and progress lands in the store as phases and batches end.
#include "proxy/plan_journal.h"

#include <gtest/gtest.h>

#include "policy/commands/output.h"

namespace schemagate::proxy {
namespace {

policy::Plan sample_plan() {
  policy::Plan p;
  p.rule_id = "volatile_default";
  p.summary = "add the column, then fill it in batches";
  policy::Phase add;
  add.kind = policy::PhaseKind::guarded;
  add.description = "add column token";
  add.sql = "ALTER TABLE orders ADD COLUMN token uuid";
  add.table = "orders";
  add.lock_timeout_ms = 2000;
  add.retry = {5, 500};
  policy::Phase fill;
  fill.kind = policy::PhaseKind::backfill;
  fill.description = "backfill";
  fill.table = "orders";
  fill.backfill = policy::Backfill{"orders", "token", "DEFAULT", 1000, 20, 64ULL << 20};
  policy::Phase idx;
  idx.kind = policy::PhaseKind::autocommit;
  idx.description = "build the index";
  idx.sql = "CREATE INDEX CONCURRENTLY orders_token_idx ON orders (token)";
  idx.cleanup_sql = "DROP INDEX CONCURRENTLY IF EXISTS orders_token_idx";
  p.phases = {add, fill, idx};
  return p;
}

TEST(PlanJournal, APlanReadBackFromItsJsonIsThePlanWritten) {
  const auto plan = sample_plan();
  const auto text = policy::commands::plan_json_text(plan);
  std::string error;
  const auto back = policy::commands::plan_from_json_text(text, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(policy::commands::plan_json_text(*back), text);
  ASSERT_EQ(back->phases.size(), 3u);
  EXPECT_EQ(back->phases[1].backfill->max_replica_lag_bytes, 64ULL << 20);
  EXPECT_EQ(back->phases[2].cleanup_sql, "DROP INDEX CONCURRENTLY IF EXISTS orders_token_idx");
}

TEST(PlanJournal, TextItDidNotWriteIsRefused) {
  std::string error;
  for (const char* bad : {"", "[]", "{\"phases\": 3}", "{\"phases\": [{\"kind\": \"teleport\"}]}",
                          "{\"phases\": [{\"kind\": \"backfill\"}]}", "{\"phases\": [7]}"}) {
    error.clear();
    EXPECT_FALSE(policy::commands::plan_from_json_text(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(PlanJournal, ResumePointComesFromTheEntry) {
  PlanJournalEntry e;
  e.phases_done = 2;
  e.rows_backfilled = 1500;
  e.backfill_resume = backfill_key_json({"42", "it's"});
  const auto r = resume_point_of(e);
  EXPECT_EQ(r.phase, 2u);
  EXPECT_EQ(r.rows_backfilled, 1500);
  EXPECT_EQ(r.last_key, (std::vector<std::string>{"42", "it's"}));
  e.backfill_resume = "not json";
  EXPECT_TRUE(resume_point_of(e).last_key.empty());
}

}  // namespace
}  // namespace schemagate::proxy
