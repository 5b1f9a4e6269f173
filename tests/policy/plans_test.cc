// Unit tests of the built-in plans that need catalogue facts, PostgreSQL's naming rules, the
// lock_timeout composition in the engine and the SG005 migration-tool hints.
#include <gtest/gtest.h>
#include <pg_query/pg_query.pb-c.h>

#include "policy/classifier.h"
#include "policy/engine.h"
#include "policy/migration_tools.h"
#include "policy/names.h"
#include "policy/planner.h"
#include "policy/rules.h"
#include "tests/policy/fake_facts.h"

namespace schemagate::policy {
namespace {

struct Planned {
  std::optional<Plan> plan;
  std::string why_not;
  std::vector<std::string> sql;
};

Planned plan_with(const std::string& sql, std::vector<std::string> rules, const CatalogFacts* facts = nullptr,
                  int version = 150000) {
  SyntaxError err;
  auto b = ParsedBatch::parse(sql, &err);
  EXPECT_NE(b, nullptr) << err.message;
  Statement s;
  classify(b->tree()->stmts[0]->stmt, nullptr, s);
  std::vector<Finding> findings;
  for (auto& r : rules) findings.push_back(Finding{r, Outcome::rewrite, "", "", ""});
  config::PolicyThresholds th;
  Planned out;
  out.plan = DefaultPlanner().plan(s, findings, PlanContext{&th, version, facts}, out.why_not);
  if (out.plan)
    for (const auto& p : out.plan->phases) out.sql.push_back(p.sql);
  return out;
}

// Every generated statement (and cleanup) parses back to exactly one statement; every phase has
// lock_timeout; helpers are named schemagate_* and fit 63 bytes.
void expect_sound(const Plan& p) {
  for (const auto& ph : p.phases) {
    EXPECT_GT(ph.lock_timeout_ms, 0u) << ph.description;
    if (ph.kind == PhaseKind::backfill) {
      EXPECT_TRUE(ph.backfill.has_value());
      continue;
    }
    SyntaxError err;
    auto b = ParsedBatch::parse(ph.sql, &err);
    ASSERT_NE(b, nullptr) << ph.sql << ": " << err.message;
    EXPECT_EQ(b->tree()->n_stmts, 1u) << ph.sql;
    if (ph.kind == PhaseKind::precheck) {
      EXPECT_FALSE(ph.failure_message.empty());
      EXPECT_EQ(b->tree()->stmts[0]->stmt->node_case, PG_QUERY__NODE__NODE_SELECT_STMT);
    }
    if (!ph.cleanup_sql.empty()) {
      auto c = ParsedBatch::parse(ph.cleanup_sql, &err);
      ASSERT_NE(c, nullptr) << ph.cleanup_sql;
      EXPECT_EQ(c->tree()->n_stmts, 1u);
    }
  }
  // Prechecks come first: nothing changes before they ran.
  bool changed = false;
  for (const auto& ph : p.phases) {
    if (ph.kind != PhaseKind::precheck) {
      changed = true;
    } else {
      EXPECT_FALSE(changed) << "precheck after a change: " << ph.sql;
    }
  }
}

TEST(Names, MakeObjectNameTruncatesTheLongerPartFirst) {
  EXPECT_EQ(make_object_name("orders", "created_at", "idx"), "orders_created_at_idx");
  EXPECT_EQ(make_object_name("t", "", "pkey"), "t_pkey");
  const std::string long1(60, 'a'), long2(10, 'b');
  const auto n = make_object_name(long1, long2, "key");
  EXPECT_EQ(n.size(), 63u);
  EXPECT_EQ(n, std::string(48, 'a') + "_" + long2 + "_key");
  // Multibyte: never cut inside a character (é is two bytes).
  std::string accents;
  for (int i = 0; i < 40; ++i) accents += "\xC3\xA9";
  const auto m = make_object_name(accents, "", "idx");
  EXPECT_LE(m.size(), 63u);
  EXPECT_EQ((m.size() - 4) % 2, 0u);
  EXPECT_EQ(clip_utf8("a\xC3\xA9", 2), "a");
}

TEST(Names, ChooseNameNumbersLikePostgres) {
  TakenNames taken;
  taken.relations = {"t_a_idx", "t_a_idx1"};
  EXPECT_EQ(choose_name("t", "a", "idx", true, false, taken), "t_a_idx2");
  EXPECT_EQ(choose_name("t", "a", "idx", true, false, taken), "t_a_idx3");  // the choice is recorded
  taken.constraints = {"t_a_check"};
  EXPECT_EQ(choose_name("t", "a", "check", false, true, taken), "t_a_check1");
  const auto h = helper_name(std::string(70, 'x'), "col", "not_null", taken);
  EXPECT_EQ(h.rfind("schemagate_", 0), 0u);
  EXPECT_LE(h.size(), 63u);
}

TEST(Plans, UnnamedIndexAvoidsExistingNames) {
  FakeFacts f;
  f.index_map["orders"] = {IndexInfo{"orders_a_idx", {"a"}, false, true, false}};
  const auto r = plan_with("CREATE INDEX ON orders (a)", {"require_concurrent_index"}, &f);
  ASSERT_TRUE(r.plan) << r.why_not;
  EXPECT_EQ(r.sql[0], "CREATE INDEX CONCURRENTLY orders_a_idx1 ON orders USING btree (a)");
  EXPECT_EQ(r.plan->phases[0].cleanup_sql, "DROP INDEX CONCURRENTLY IF EXISTS orders_a_idx1");
  expect_sound(*r.plan);
}

TEST(Plans, UpperCaseAndQuotesSurviveEveryPlan) {
  for (const char* sql : {"CREATE UNIQUE INDEX ON \"Sales\".\"Order\"\"s\" (\"Email\")",
                          "ALTER TABLE \"Sales\".\"Order\"\"s\" ADD UNIQUE (\"Email\")",
                          "ALTER TABLE \"Sales\".\"Order\"\"s\" ADD PRIMARY KEY (\"Id\")",
                          "ALTER TABLE \"Sales\".\"Order\"\"s\" ALTER COLUMN \"Email\" SET NOT NULL",
                          "ALTER TABLE \"Sales\".\"Order\"\"s\" ADD FOREIGN KEY (\"CustId\") REFERENCES \"C\" (\"Id\")",
                          "ALTER TABLE \"Sales\".\"Order\"\"s\" ADD COLUMN \"Tok\" uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE"}) {
    // Rules not used by a statement make the planner refuse, so plan each with only its own.
    SCOPED_TRACE(sql);
    std::optional<Plan> plan;
    for (const char* rule : {"require_concurrent_index", "add_unique_constraint", "add_primary_key", "set_not_null",
                             "add_foreign_key"}) {
      auto one = plan_with(sql, {rule});
      if (one.plan) plan = one.plan;
    }
    if (!plan) plan = plan_with(sql, {"add_column_volatile_default", "add_unique_constraint"}).plan;
    ASSERT_TRUE(plan);
    expect_sound(*plan);
    for (const auto& p : plan->phases) {
      if (p.kind != PhaseKind::backfill) {
        EXPECT_NE(p.sql.find("\"Sales\".\"Order\"\"s\""), std::string::npos) << p.sql;
      }
    }
  }
  const auto pk = plan_with("ALTER TABLE \"Sales\".\"Order\"\"s\" ADD PRIMARY KEY (\"Id\")", {"add_primary_key"});
  ASSERT_TRUE(pk.plan);
  EXPECT_EQ(pk.sql.back(),
            "ALTER TABLE \"Sales\".\"Order\"\"s\" ADD CONSTRAINT \"Order\"\"s_pkey\" PRIMARY KEY USING INDEX \"Order\"\"s_pkey\"");
}

TEST(Plans, PrimaryKeySkipsNotNullWhenColumnsAreNotNull) {
  FakeFacts f;
  f.not_null["events.id"] = true;
  const auto r = plan_with("ALTER TABLE events ADD PRIMARY KEY (id)", {"add_primary_key"}, &f);
  ASSERT_TRUE(r.plan) << r.why_not;
  ASSERT_EQ(r.sql.size(), 3u);
  EXPECT_EQ(r.plan->phases[0].kind, PhaseKind::precheck);
  EXPECT_EQ(r.sql[1], "CREATE UNIQUE INDEX CONCURRENTLY events_pkey ON events USING btree (id)");
  EXPECT_EQ(r.sql[2], "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_pkey");
  expect_sound(*r.plan);
}

TEST(Plans, SetNotNullProvenByFactsIsPlainInsideMultiAction) {
  FakeFacts f;
  f.constraint_map["orders"] = {ConstraintInfo{"c_nn", 'c', "CHECK ((c IS NOT NULL))", true},
                                ConstraintInfo{"d_or", 'c', "CHECK (((d IS NOT NULL) OR (e > 0)))", true}};
  const auto r = plan_with("ALTER TABLE orders ALTER COLUMN c SET NOT NULL, ALTER COLUMN d SET NOT NULL",
                           {"set_not_null"}, &f);
  ASSERT_TRUE(r.plan) << r.why_not;
  EXPECT_EQ(r.sql[0], "SELECT EXISTS (SELECT FROM orders WHERE d IS NULL)");
  EXPECT_EQ(r.sql[1], "ALTER TABLE orders ALTER COLUMN c SET NOT NULL");  // proven: no helper
  EXPECT_EQ(r.sql[2], "ALTER TABLE orders ADD CONSTRAINT schemagate_orders_d_not_null CHECK (d IS NOT NULL) NOT VALID");
  EXPECT_EQ(r.sql.back(), "ALTER TABLE orders DROP CONSTRAINT schemagate_orders_d_not_null");
  EXPECT_TRUE(proves_not_null(&f, {"", "orders"}, "c", 150000));
  EXPECT_FALSE(proves_not_null(&f, {"", "orders"}, "d", 150000));  // OR does not prove it
  expect_sound(*r.plan);
}

TEST(Plans, ConstraintNamesFollowPostgres) {
  FakeFacts f;
  f.constraint_map["t"] = {ConstraintInfo{"t_a_check", 'c', "CHECK ((a > 0))", true}};
  EXPECT_EQ(plan_with("ALTER TABLE t ADD CHECK (a > 1)", {"add_check_constraint"}, &f).sql[0],
            "ALTER TABLE t ADD CONSTRAINT t_a_check1 CHECK (a > 1) NOT VALID");
  EXPECT_EQ(plan_with("ALTER TABLE t ADD FOREIGN KEY (a, b) REFERENCES p (x, y)", {"add_foreign_key"}).sql[0],
            "ALTER TABLE t ADD CONSTRAINT t_a_b_fkey FOREIGN KEY (a, b) REFERENCES p (x, y) NOT VALID");
  // Two unnamed checks in one statement: the second is numbered, as PostgreSQL numbers it.
  const auto two = plan_with("ALTER TABLE t ADD CHECK (a > 1), ADD CHECK (a < 9)", {"add_check_constraint"}, &f);
  ASSERT_TRUE(two.plan) << two.why_not;
  EXPECT_EQ(two.sql[2], "ALTER TABLE t ADD CONSTRAINT t_a_check2 CHECK (a < 9) NOT VALID");
}

TEST(Plans, RefreshConcurrentlyOnlyWithAUniqueIndex) {
  FakeFacts f;
  f.described = {"mv"};
  auto r = plan_with("REFRESH MATERIALIZED VIEW mv", {"refresh_matview_non_concurrent"}, &f);
  EXPECT_FALSE(r.plan);
  EXPECT_NE(r.why_not.find("unique index"), std::string::npos);
  f.index_map["mv"] = {IndexInfo{"mv_partial", {"id"}, true, true, true}, IndexInfo{"mv_expr", {""}, true, true, false}};
  EXPECT_FALSE(plan_with("REFRESH MATERIALIZED VIEW mv", {"refresh_matview_non_concurrent"}, &f).plan);
  f.index_map["mv"].push_back(IndexInfo{"mv_id", {"id"}, true, true, false});
  r = plan_with("REFRESH MATERIALIZED VIEW mv", {"refresh_matview_non_concurrent"}, &f);
  ASSERT_TRUE(r.plan) << r.why_not;
  EXPECT_EQ(r.sql[0], "REFRESH MATERIALIZED VIEW CONCURRENTLY mv");
  EXPECT_EQ(r.plan->phases[0].kind, PhaseKind::online);
}

TEST(Plans, PartitionedIndexBuildsEachPartitionThenAttaches) {
  FakeFacts f;
  f.partitioned["m"] = true;
  f.described = {"m"};
  // As the catalog gives them: every parent with its schema, the root's included (an
  // unqualified root is found through where its name resolves).
  f.search_path["m"] = "public";
  f.partition_map["m"] = {PartitionInfo{{"public", "m2023"}, {"public", "m"}, false, false, false},
                          PartitionInfo{{"public", "m2024"}, {"public", "m"}, true, false, false},
                          PartitionInfo{{"public", "m2024q1"}, {"public", "m2024"}, false, false, false}};
  const auto r = plan_with("CREATE INDEX ON m (ts)", {"require_concurrent_index"}, &f);
  ASSERT_TRUE(r.plan) << r.why_not;
  const std::vector<std::string> want = {
      "CREATE INDEX CONCURRENTLY m2023_ts_idx ON public.m2023 USING btree (ts)",
      "CREATE INDEX CONCURRENTLY m2024q1_ts_idx ON public.m2024q1 USING btree (ts)",
      "CREATE INDEX m_ts_idx ON ONLY m USING btree (ts)",
      "ALTER INDEX m_ts_idx ATTACH PARTITION public.m2023_ts_idx",
      "CREATE INDEX m2024_ts_idx ON ONLY public.m2024 USING btree (ts)",
      "ALTER INDEX m_ts_idx ATTACH PARTITION public.m2024_ts_idx",
      "ALTER INDEX public.m2024_ts_idx ATTACH PARTITION public.m2024q1_ts_idx"};
  EXPECT_EQ(r.sql, want);
  EXPECT_EQ(r.plan->phases[0].cleanup_sql, "DROP INDEX CONCURRENTLY IF EXISTS public.m2023_ts_idx");
  expect_sound(*r.plan);
  // Unknown partitions: refused with the recipe.
  FakeFacts g;
  g.partitioned["m"] = true;
  EXPECT_FALSE(plan_with("CREATE INDEX ON m (ts)", {"require_concurrent_index"}, &g).plan);
}

TEST(Plans, DetachConcurrentlyRefusedWithDefaultPartition) {
  FakeFacts f;
  f.partition_map["m"] = {PartitionInfo{{"public", "m_def"}, {"public", "m"}, false, false, true}};
  const auto r = plan_with("ALTER TABLE m DETACH PARTITION m1", {"require_concurrent_detach_partition"}, &f);
  EXPECT_FALSE(r.plan);
  EXPECT_NE(r.why_not.find("DEFAULT partition"), std::string::npos);
  EXPECT_FALSE(plan_with("ALTER TABLE m DETACH PARTITION m1", {"require_concurrent_detach_partition"}, nullptr, 130000).plan);
}

TEST(Plans, GuardedFallbackRefusesWhatItCannotRegenerate) {
  auto r = plan_with("ALTER TABLE t ADD COLUMN a int", {"require_lock_timeout"});
  ASSERT_TRUE(r.plan) << r.why_not;
  EXPECT_EQ(r.plan->phases[0].kind, PhaseKind::guarded);
  EXPECT_EQ(r.plan->phases[0].table, "t");
  EXPECT_EQ(r.plan->rule_id, "require_lock_timeout");
  r = plan_with("VACUUM FULL t", {"require_lock_timeout"});
  ASSERT_TRUE(r.plan) << r.why_not;
  EXPECT_EQ(r.plan->phases[0].kind, PhaseKind::autocommit);  // cannot run in a transaction block
}

TEST(Engine, RequireLockTimeoutComposesWithPlans) {
  auto loaded = load_policy_text("rules: {require_lock_timeout: reject}\n");
  ASSERT_TRUE(loaded.ok());
  PolicyEngine engine(loaded.policy);
  SessionInfo s;  // no lock_timeout
  OfflineFacts facts;
  // The plan sets lock_timeout on every phase, so even a rejecting require_lock_timeout is moot.
  auto d = engine.evaluate("CREATE INDEX i ON orders (a)", s, &facts);
  EXPECT_EQ(d.outcome, Outcome::rewrite);
  for (const auto& f : d.statements[0].findings) EXPECT_NE(f.rule_id, "require_lock_timeout");
  // Without a plan it still rejects.
  d = engine.evaluate("ALTER TABLE orders ADD COLUMN note text", s, &facts);
  EXPECT_EQ(d.outcome, Outcome::reject);
}

TEST(Engine, Sg005HintNamesTheMigrationTool) {
  PolicyEngine engine(config::Policy{});
  OfflineFacts facts;
  SessionInfo s;
  s.tx_status = 'T';
  s.lock_timeout_set = true;
  s.application_name = "Flyway by Redgate";
  auto d = engine.evaluate("CREATE INDEX i ON orders (a)", s, &facts);
  ASSERT_EQ(d.statements.size(), 1u);
  EXPECT_EQ(d.statements[0].sqlstate, "SG005");
  EXPECT_NE(d.statements[0].hint.find("executeInTransaction=false"), std::string::npos) << d.statements[0].hint;
  s.application_name.clear();
  d = engine.evaluate("CREATE INDEX CONCURRENTLY i ON orders (a); UPDATE alembic_version SET version_num = 'x'", s, &facts);
  EXPECT_NE(d.statements[0].hint.find("autocommit_block"), std::string::npos) << d.statements[0].hint;
}

TEST(MigrationTools, Detection) {
  EXPECT_EQ(detect_migration_tool("psql", ""), MigrationTool::psql);
  EXPECT_EQ(detect_migration_tool("PostgreSQL JDBC Driver", ""), MigrationTool::jdbc);
  EXPECT_EQ(detect_migration_tool("", "INSERT INTO \"schema_migrations\" (version) VALUES ('1')"), MigrationTool::rails);
  EXPECT_EQ(detect_migration_tool("", "UPDATE schema_migrations SET version = 3, dirty = true"), MigrationTool::golang_migrate);
  EXPECT_EQ(detect_migration_tool("", "INSERT INTO django_migrations ..."), MigrationTool::django);
  EXPECT_EQ(detect_migration_tool("", "select * from knex_migrations"), MigrationTool::knex);
  EXPECT_EQ(detect_migration_tool("", "INSERT INTO pgmigrations"), MigrationTool::node_pg_migrate);
  EXPECT_EQ(detect_migration_tool("", "_prisma_migrations"), MigrationTool::prisma);
  EXPECT_EQ(detect_migration_tool("", "DATABASECHANGELOG"), MigrationTool::liquibase);
  EXPECT_EQ(detect_migration_tool("", "CREATE INDEX i ON t (a)"), MigrationTool::unknown);
  EXPECT_NE(non_transactional_hint(MigrationTool::rails).find("disable_ddl_transaction!"), std::string::npos);
  EXPECT_NE(non_transactional_hint(MigrationTool::knex).find("transaction: false"), std::string::npos);
  EXPECT_NE(non_transactional_hint(MigrationTool::node_pg_migrate).find("pgm.noTransaction()"), std::string::npos);
  EXPECT_NE(non_transactional_hint(MigrationTool::django).find("atomic = False"), std::string::npos);
}

}  // namespace
}  // namespace schemagate::policy
