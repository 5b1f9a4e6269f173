// PlanRunner's step logic against a scripted server: order of statements, retries with backoff
// and jitter, cleanup, blockers, prechecks, backfill batches, cancel, resume, lost connections.
#include <algorithm>

#include "tests/proxy/plan_runner_fixture.h"

namespace schemagate::proxy {
namespace {

TEST(PlanRunner, GuardedPhaseRunsInItsOwnTransactionAndSettingsAreRestored) {
  Plan plan;
  plan.phases = {phase(PhaseKind::guarded, "ALTER TABLE orders ADD COLUMN c int")};
  PlanRunner runner(plan, 1);
  auto run = drive(runner, [](const std::string& sql, std::size_t i) {
    if (i == 0) return ok_rows({{std::string("5s"), std::string("1min")}});
    (void)sql;
    return ok_rows();
  });
  ASSERT_EQ(run.sql.size(), 3u);
  EXPECT_TRUE(starts_with(run.sql[0], "SELECT pg_catalog.current_setting('lock_timeout')"));
  EXPECT_EQ(run.sql[1], "BEGIN; SET LOCAL lock_timeout = '2000ms'; ALTER TABLE orders ADD COLUMN c int; COMMIT");
  EXPECT_NE(run.sql[2].find("set_config('lock_timeout', '5s', false)"), std::string::npos) << run.sql[2];
  EXPECT_NE(run.sql[2].find("set_config('statement_timeout', '1min', false)"), std::string::npos);
  EXPECT_EQ(run.last.kind, PlanStep::done);
  ASSERT_EQ(run.notices.size(), 1u);
  EXPECT_TRUE(starts_with(run.notices[0], "schemagate: phase 1/1 done in ")) << run.notices[0];
  EXPECT_NE(run.notices[0].find("ALTER TABLE orders ADD COLUMN c int"), std::string::npos);
  EXPECT_EQ(runner.phases_done(), 1u);
}

TEST(PlanRunner, LockTimeoutIsRetriedWithGrowingJitteredBackoffThenNamesTheBlocker) {
  Plan plan;
  plan.phases = {phase(PhaseKind::guarded, "ALTER TABLE orders ADD CONSTRAINT x CHECK (a > 0) NOT VALID", 4)};
  PlanRunner runner(plan, 42);
  auto run = drive(runner, [](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (starts_with(sql, "BEGIN")) return error("55P03", 'E', "canceling statement due to lock timeout");
    if (sql == "ROLLBACK") return ok_rows();
    if (sql.find("pg_stat_activity") != std::string::npos)
      return ok_rows({{std::string("4242"), std::string("reporting"), std::string("bob"), std::string("2026-12-01 10:00:00+00"),
                       std::string("idle in transaction"), std::string("LOCK orders"), std::string("true")}});
    return ok_rows();
  });
  int attempts = 0, rollbacks = 0;
  for (const auto& s : run.sql) {
    attempts += starts_with(s, "BEGIN");
    rollbacks += s == "ROLLBACK";
  }
  EXPECT_EQ(attempts, 4);
  EXPECT_EQ(rollbacks, 4);  // each failed block is rolled back before anything else is sent
  ASSERT_EQ(run.sleeps.size(), 3u);
  for (std::size_t i = 0; i < run.sleeps.size(); ++i) {
    const std::uint32_t base = 100u << i;
    EXPECT_GE(run.sleeps[i], base);
    EXPECT_LE(run.sleeps[i], base + base / 2);
  }
  ASSERT_EQ(run.last.kind, PlanStep::failed);
  EXPECT_EQ(run.last.error.sqlstate, "SG004");
  EXPECT_NE(run.last.error.message.find("could not get its lock within 2000 ms in 4 attempts"), std::string::npos)
      << run.last.error.message;
  EXPECT_NE(run.last.error.detail.find("pid 4242"), std::string::npos) << run.last.error.detail;
  EXPECT_NE(run.last.error.detail.find("application_name 'reporting'"), std::string::npos);
  EXPECT_NE(run.last.error.detail.find("holds a lock on public.orders"), std::string::npos);
  EXPECT_NE(run.last.error.detail.find("Nothing was changed."), std::string::npos);
  EXPECT_TRUE(run.sql.back().find("set_config") != std::string::npos);  // settings restored last
}

TEST(PlanRunner, PhaseRecordsSayHowEachPhaseEndedAndRetriesAreCounted) {
  Plan plan;
  plan.phases = {phase(PhaseKind::guarded, "ALTER TABLE orders ADD CONSTRAINT x CHECK (a > 0) NOT VALID", 3),
                 phase(PhaseKind::guarded, "ALTER TABLE orders VALIDATE CONSTRAINT x", 1)};
  PlanRunner runner(plan, 7);
  int first_attempts = 0;
  auto run = drive(runner, [&](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    // Phase 1 is refused its lock once, then succeeds; phase 2 fails for good.
    if (starts_with(sql, "BEGIN") && sql.find("NOT VALID") != std::string::npos)
      return ++first_attempts == 1 ? error("55P03", 'E') : ok_rows();
    if (starts_with(sql, "BEGIN")) return error("23514", 'E', "check constraint violated");
    return ok_rows();
  });
  ASSERT_EQ(run.last.kind, PlanStep::failed);
  const auto records = runner.take_phase_records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].index, 0u);
  EXPECT_TRUE(records[0].ok);
  EXPECT_EQ(records[0].attempts, 2u);
  EXPECT_GE(records[0].duration_ms, 100);  // includes the backoff sleep
  EXPECT_EQ(records[1].index, 1u);
  EXPECT_FALSE(records[1].ok);
  EXPECT_FALSE(records[1].sqlstate.empty());
  EXPECT_EQ(runner.lock_timeout_retries(), 1u);
  EXPECT_TRUE(runner.take_phase_records().empty()) << "records are handed out once";
}

TEST(PlanRunner, JitterDiffersBetweenSeeds) {
  policy::RetryPolicy r{5, 1000};
  std::mt19937_64 a(1), b(2);
  bool differ = false;
  for (int i = 0; i < 8; ++i) differ |= PlanRunner::backoff_ms(r, 1, a) != PlanRunner::backoff_ms(r, 1, b);
  EXPECT_TRUE(differ);
}

TEST(PlanRunner, AutocommitFailureCleansUpBeforeEveryRetryAndBeforeStopping) {
  Plan plan;
  plan.phases = {phase(PhaseKind::autocommit, "CREATE INDEX CONCURRENTLY i ON orders (a)", 2,
                       "DROP INDEX CONCURRENTLY IF EXISTS public.i")};
  PlanRunner runner(plan, 7);
  auto run = drive(runner, [](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (starts_with(sql, "CREATE INDEX")) return error("55P03");
    return ok_rows();
  });
  std::vector<std::string> expected_order = {"SET lock_timeout = '2000ms'", "CREATE INDEX CONCURRENTLY i ON orders (a)",
                                             "DROP INDEX CONCURRENTLY IF EXISTS public.i",
                                             "CREATE INDEX CONCURRENTLY i ON orders (a)",
                                             "DROP INDEX CONCURRENTLY IF EXISTS public.i"};
  ASSERT_GE(run.sql.size(), 6u);
  for (std::size_t i = 0; i < expected_order.size(); ++i) EXPECT_EQ(run.sql[i + 1], expected_order[i]);
  EXPECT_EQ(run.last.error.sqlstate, "SG004");
}

TEST(PlanRunner, OtherErrorsStopAtOnceWithTheServerMessageAndWhatWasDone) {
  Plan plan;
  plan.phases = {phase(PhaseKind::guarded, "ALTER TABLE orders ADD COLUMN c int"),
                 phase(PhaseKind::online, "ALTER TABLE orders VALIDATE CONSTRAINT k", 5,
                       "ALTER TABLE orders DROP CONSTRAINT IF EXISTS k")};
  PlanRunner runner(plan, 7);
  auto run = drive(runner, [](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (sql.find("VALIDATE") != std::string::npos) return error("23514", 'E', "check constraint \"k\" is violated by some row");
    return ok_rows();
  });
  ASSERT_EQ(run.last.kind, PlanStep::failed);
  EXPECT_EQ(run.last.error.sqlstate, "SG004");
  EXPECT_NE(run.last.error.message.find("phase 2/2"), std::string::npos) << run.last.error.message;
  EXPECT_NE(run.last.error.message.find("violated by some row (SQLSTATE 23514)"), std::string::npos);
  EXPECT_NE(run.last.error.detail.find("phase 1 of 2"), std::string::npos) << run.last.error.detail;
  int validates = 0;
  for (const auto& s : run.sql) validates += s.find("VALIDATE") != std::string::npos;
  EXPECT_EQ(validates, 1);  // a data error is not retried
  EXPECT_NE(std::find(run.sql.begin(), run.sql.end(), "ALTER TABLE orders DROP CONSTRAINT IF EXISTS k"), run.sql.end());
  EXPECT_NE(std::find(run.sql.begin(), run.sql.end(), "ROLLBACK"), run.sql.end());
  const auto& online = run.sql[2];
  EXPECT_NE(online.find("SET LOCAL statement_timeout = 0"), std::string::npos) << online;
}

TEST(PlanRunner, PrecheckThatFindsRowsStopsBeforeAnythingChanges) {
  Plan plan;
  Phase check = phase(PhaseKind::precheck, "SELECT EXISTS (SELECT 1 FROM orders WHERE a IS NULL)");
  check.failure_message = "column a contains NULL values";
  plan.phases = {check, phase(PhaseKind::guarded, "ALTER TABLE orders ALTER a SET NOT NULL")};
  PlanRunner runner(plan, 7);
  auto run = drive(runner, [](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (starts_with(sql, "SELECT EXISTS")) return ok_rows({{std::string("t")}});
    return ok_rows();
  });
  ASSERT_EQ(run.last.kind, PlanStep::failed);
  EXPECT_EQ(run.last.error.sqlstate, "SG004");
  EXPECT_NE(run.last.error.message.find("column a contains NULL values"), std::string::npos);
  for (const auto& s : run.sql) EXPECT_EQ(s.find("SET NOT NULL"), std::string::npos) << s;
}

TEST(PlanRunner, KeysetBackfillWalksThePrimaryKeyInBatches) {
  Plan plan;
  Phase fill = phase(PhaseKind::backfill, "");
  fill.backfill = policy::Backfill{"public.orders", "token", "DEFAULT", 2, 0};
  plan.phases = {fill};
  PlanRunner runner(plan, 7);
  int batches = 0;
  auto run = drive(runner, [&](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (sql.find("indisprimary") != std::string::npos) return ok_rows({{std::string("id")}});
    if (sql.find("reltuples") != std::string::npos)
      return ok_rows({{std::string("5"), std::string("1"), std::string("1")}});
    if (starts_with(sql, "WITH schemagate_b")) {
      ++batches;
      if (batches == 1) return ok_rows({{std::string("2"), std::string("2")}});
      if (batches == 2) return ok_rows({{std::string("2"), std::string("4")}});
      if (batches == 3) return ok_rows({{std::string("1"), std::string("5")}});
      return ok_rows();
    }
    return ok_rows();
  });
  EXPECT_EQ(run.last.kind, PlanStep::done);
  EXPECT_EQ(batches, 4);
  EXPECT_EQ(runner.rows_backfilled(), 5);
  std::vector<std::string> batch_sql;
  for (const auto& s : run.sql)
    if (starts_with(s, "WITH schemagate_b")) batch_sql.push_back(s);
  ASSERT_EQ(batch_sql.size(), 4u);
  EXPECT_EQ(batch_sql[0].find(" WHERE (id) >"), std::string::npos);  // the first batch starts at the beginning
  EXPECT_NE(batch_sql[1].find("FROM public.orders WHERE (id) > ('2') ORDER BY id LIMIT 2"), std::string::npos)
      << batch_sql[1];
  EXPECT_NE(batch_sql[3].find("WHERE (id) > ('5')"), std::string::npos);
  EXPECT_NE(batch_sql[0].find("schemagate_t.token IS NULL"), std::string::npos);
  EXPECT_NE(run.notices.back().find("(5 rows)"), std::string::npos) << run.notices.back();
}

TEST(PlanRunner, BackfillWithoutAKeyWalksCtidRangesOnce) {
  Plan plan;
  Phase fill = phase(PhaseKind::backfill, "");
  fill.backfill = policy::Backfill{"t", "c", "now()", 200, 0};
  plan.phases = {fill};
  PlanRunner runner(plan, 7);
  auto run = drive(runner, [&](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (sql.find("indisprimary") != std::string::npos) return ok_rows();
    if (sql.find("reltuples") != std::string::npos)
      return ok_rows({{std::string("1000"), std::string("10"), std::string("10")}});  // 100 rows a block
    if (starts_with(sql, "UPDATE")) return ok_rows({}, {"UPDATE 200"});
    return ok_rows();
  });
  EXPECT_EQ(run.last.kind, PlanStep::done);
  std::vector<std::string> updates;
  for (const auto& s : run.sql)
    if (starts_with(s, "UPDATE")) updates.push_back(s);
  ASSERT_EQ(updates.size(), 5u);  // 10 blocks, 2 per batch
  EXPECT_EQ(updates[0], "UPDATE t SET c = now() WHERE ctid >= '(0,0)'::tid AND ctid < '(2,0)'::tid AND c IS NULL");
  EXPECT_NE(updates[4].find("'(8,0)'::tid AND ctid < '(10,0)'"), std::string::npos);
  EXPECT_EQ(runner.rows_backfilled(), 1000);
}

TEST(PlanRunner, CancelBetweenPhasesStopsWith57014AndStillRestoresSettings) {
  Plan plan;
  plan.phases = {phase(PhaseKind::guarded, "ALTER TABLE orders ADD COLUMN a int"),
                 phase(PhaseKind::guarded, "ALTER TABLE orders ADD COLUMN b int")};
  PlanRunner runner(plan, 7);
  auto run = drive(runner, [&](const std::string&, std::size_t i) {
    if (i == 1) runner.cancel();  // arrives while phase 1 runs; phase 1 still completes
    return i == 0 ? settings() : ok_rows();
  });
  ASSERT_EQ(run.last.kind, PlanStep::failed);
  EXPECT_EQ(run.last.error.sqlstate, "57014");
  EXPECT_NE(run.last.error.detail.find("phase 1 of 2"), std::string::npos) << run.last.error.detail;
  for (const auto& s : run.sql) EXPECT_EQ(s.find("COLUMN b"), std::string::npos);
  EXPECT_NE(run.sql.back().find("set_config"), std::string::npos);
}

TEST(PlanRunner, ServerSideCancelOfARunningPhaseCleansUpAndReports57014) {
  Plan plan;
  plan.phases = {phase(PhaseKind::autocommit, "CREATE INDEX CONCURRENTLY i ON orders (a)", 5,
                       "DROP INDEX CONCURRENTLY IF EXISTS public.i")};
  PlanRunner runner(plan, 7);
  auto run = drive(runner, [&](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (starts_with(sql, "CREATE INDEX")) {
      runner.cancel();
      return error("57014");
    }
    return ok_rows();
  });
  EXPECT_EQ(run.last.error.sqlstate, "57014");
  EXPECT_NE(std::find(run.sql.begin(), run.sql.end(), "DROP INDEX CONCURRENTLY IF EXISTS public.i"), run.sql.end());
  int builds = 0;
  for (const auto& s : run.sql) builds += starts_with(s, "CREATE INDEX");
  EXPECT_EQ(builds, 1);  // a cancel is never retried
}

TEST(PlanRunner, ACancelThatLandsLateOnTheCleanupOrTheRestoreIsAnsweredBySendingThemAgain) {
  // The client's Ctrl-C raised the flag while the index build was finishing; the server's copy of
  // the cancel arrived later and cancelled the cleanup, then the settings restore.
  Plan plan;
  plan.phases = {phase(PhaseKind::autocommit, "CREATE INDEX CONCURRENTLY i ON orders (a)", 5,
                       "DROP INDEX CONCURRENTLY IF EXISTS public.i")};
  PlanRunner runner(plan, 7);
  int drops = 0, restores = 0;
  auto run = drive(runner, [&](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (starts_with(sql, "SET lock_timeout")) return ok_rows();
    if (starts_with(sql, "CREATE INDEX")) {
      runner.cancel();
      return error("57014");
    }
    if (starts_with(sql, "DROP INDEX")) return ++drops == 1 ? error("57014") : ok_rows();
    if (sql.find("set_config") != std::string::npos) return ++restores == 1 ? error("57014") : ok_rows();
    return ok_rows();
  });
  EXPECT_EQ(run.last.error.sqlstate, "57014");
  EXPECT_EQ(drops, 2);
  EXPECT_EQ(restores, 2);
  EXPECT_EQ(run.last.error.detail.find("Cleanup failed"), std::string::npos) << run.last.error.detail;

  // Not forever: a restore that keeps failing is given up after three repeats.
  PlanRunner stubborn(plan, 7);
  restores = 0;
  drive(stubborn, [&](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (starts_with(sql, "CREATE INDEX")) {
      stubborn.cancel();
      return error("57014");
    }
    if (sql.find("set_config") != std::string::npos) {
      ++restores;
      return error("57014");
    }
    return ok_rows();
  });
  EXPECT_EQ(restores, 4);
}

TEST(PlanRunner, InsideTheClientsTransactionTheRunStopsBeforeThePhasesThatWaitForCommit) {
  Plan plan;
  plan.phases = {phase(PhaseKind::guarded, "ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES u (id) NOT VALID"),
                 phase(PhaseKind::after_commit, "ALTER TABLE orders VALIDATE CONSTRAINT f")};
  PlanRunner in_tx(plan, 7, {}, true);
  auto run = drive(in_tx, [](const std::string&, std::size_t i) { return i == 0 ? settings() : ok_rows(); });
  EXPECT_EQ(run.last.kind, PlanStep::done);
  for (const auto& s : run.sql) EXPECT_EQ(s.find("VALIDATE"), std::string::npos) << s;
  EXPECT_EQ(in_tx.deferred_from(), 1u);
  EXPECT_EQ(in_tx.phases_done(), 1u);

  // After the COMMIT: from that phase on, outside any transaction, as an online phase.
  ResumePoint from;
  from.phase = 1;
  PlanRunner after(plan, 7, from, false);
  run = drive(after, [](const std::string&, std::size_t i) { return i == 0 ? settings() : ok_rows(); });
  EXPECT_EQ(run.last.kind, PlanStep::done);
  ASSERT_EQ(run.sql.size(), 3u);  // settings, the phase, restore
  EXPECT_EQ(run.sql[1], "BEGIN; SET LOCAL lock_timeout = '2000ms'; SET LOCAL statement_timeout = 0; "
                        "ALTER TABLE orders VALIDATE CONSTRAINT f; COMMIT");
  EXPECT_EQ(after.deferred_from(), plan.phases.size());
}

TEST(PlanRunner, ResumeSkipsFinishedPhasesAndContinuesTheBackfillAfterItsLastKey) {
  Plan plan;
  Phase fill = phase(PhaseKind::backfill, "");
  fill.backfill = policy::Backfill{"orders", "c", "DEFAULT", 100, 0};
  plan.phases = {phase(PhaseKind::guarded, "ALTER TABLE orders ADD COLUMN c uuid"), fill};
  PlanRunner runner(plan, 7, ResumePoint{1, 500, {"500"}});
  auto run = drive(runner, [&](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (sql.find("indisprimary") != std::string::npos) return ok_rows({{std::string("id")}});
    if (sql.find("reltuples") != std::string::npos)
      return ok_rows({{std::string("600"), std::string("6"), std::string("6")}});
    return ok_rows();  // no rows left after the resume key
  });
  EXPECT_EQ(run.last.kind, PlanStep::done);
  for (const auto& s : run.sql) EXPECT_EQ(s.find("ADD COLUMN"), std::string::npos) << s;
  bool resumed = false;
  for (const auto& s : run.sql) resumed |= s.find("WHERE (id) > ('500')") != std::string::npos;
  EXPECT_TRUE(resumed);
  EXPECT_EQ(runner.rows_backfilled(), 500);
}

TEST(PlanRunner, InsideTheClientsTransactionPhasesUseSavepointsAndLocalSettings) {
  Plan plan;
  plan.phases = {phase(PhaseKind::guarded, "ALTER TABLE orders ADD COLUMN c int", 2, "ALTER TABLE orders DROP COLUMN c")};
  PlanRunner runner(plan, 7, {}, true);
  int attempts = 0;
  auto run = drive(runner, [&](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (starts_with(sql, "SAVEPOINT")) return ++attempts == 1 ? error("55P03", 'E') : ok_rows();
    return ok_rows();
  });
  EXPECT_EQ(run.last.kind, PlanStep::done);
  ASSERT_GE(run.sql.size(), 5u);
  EXPECT_EQ(run.sql[1],
            "SAVEPOINT schemagate_phase; SET LOCAL lock_timeout = '2000ms'; ALTER TABLE orders ADD COLUMN c int; "
            "RELEASE SAVEPOINT schemagate_phase");
  EXPECT_EQ(run.sql[2], "ROLLBACK TO SAVEPOINT schemagate_phase");  // the client's transaction lives on
  EXPECT_TRUE(starts_with(run.sql[3], "SAVEPOINT"));
  EXPECT_NE(run.sql.back().find("set_config('lock_timeout', '0', true)"), std::string::npos) << run.sql.back();
  for (const auto& s : run.sql) EXPECT_EQ(s.find("DROP COLUMN"), std::string::npos);  // never cleaned up in there
}

TEST(PlanRunner, LostConnectionEndsThePlanWithoutSendingMore) {
  Plan plan;
  plan.phases = {phase(PhaseKind::guarded, "ALTER TABLE a ADD b int"), phase(PhaseKind::guarded, "ALTER TABLE a ADD c int")};
  PlanRunner runner(plan, 7);
  auto run = drive(runner, [](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    QueryResult lost;
    lost.connection_lost = true;
    (void)sql;
    return lost;
  });
  EXPECT_EQ(run.last.error.sqlstate, "08006");
  EXPECT_EQ(run.sql.size(), 2u);
}

// A keyset backfill of `rows` rows in batches of 2 whose pg_stat_replication answers come from
// `lag` (called once per lag read, 0-based).
struct LagScript {
  std::function<QueryResult(int)> lag;
  std::function<void(int)> on_batch = [](int) {};
  int batches = 0, lag_reads = 0;
  std::vector<std::string> order;  // "lag" / "batch", as sent
};
Run drive_lagged_backfill(PlanRunner& runner, LagScript& script, int rows) {
  return drive(runner, [&](const std::string& sql, std::size_t i) {
    if (i == 0) return settings();
    if (sql.find("indisprimary") != std::string::npos) return ok_rows({{std::string("id")}});
    if (sql.find("reltuples") != std::string::npos)
      return ok_rows({{std::to_string(rows), std::string("1"), std::string("1")}});
    if (sql.find("pg_stat_replication") != std::string::npos) {
      script.order.push_back("lag");
      return script.lag(script.lag_reads++);
    }
    if (starts_with(sql, "WITH schemagate_b")) {
      script.order.push_back("batch");
      script.on_batch(script.batches);
      const int done = 2 * script.batches++;
      if (done >= rows) return ok_rows();
      return ok_rows({{std::string("2"), std::to_string(done + 2)}});
    }
    return ok_rows();
  });
}
QueryResult replica(const std::string& lag_bytes, const std::string& hidden = "false") {
  return ok_rows({{std::string("standby1"), std::string("10.0.0.2"), hidden, lag_bytes}});
}
Plan lagged_backfill_plan(std::uint64_t limit, std::uint32_t pause_ms = 0) {
  Plan plan;
  Phase fill = phase(PhaseKind::backfill, "");
  fill.backfill = policy::Backfill{"orders", "c", "DEFAULT", 2, pause_ms, limit};
  plan.phases = {fill};
  return plan;
}

TEST(PlanRunner, BackfillWaitsWhileAReplicaIsBehindInReplayAndGoesOnWhenItCatchesUp) {
  const Plan plan = lagged_backfill_plan(1000);
  PlanRunner runner(plan, 7);
  LagScript script;
  script.lag = [](int n) { return replica(n < 3 ? "5000000" : "10"); };  // three reads behind, then caught up
  auto run = drive_lagged_backfill(runner, script, 6);
  ASSERT_EQ(run.last.kind, PlanStep::done) << run.last.error.message;
  EXPECT_EQ(runner.rows_backfilled(), 6);
  EXPECT_EQ(runner.replica_waits(), 1u);
  // No batch before the replica caught up: the first four statements are the lag reads.
  ASSERT_GE(script.order.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(script.order.begin(), script.order.begin() + 5),
            (std::vector<std::string>{"lag", "lag", "lag", "lag", "batch"}));
  EXPECT_EQ(std::count(run.sleeps.begin(), run.sleeps.end(), 1000u), 3);
  const auto has = [&](const std::string& text) {
    return std::any_of(run.notices.begin(), run.notices.end(),
                       [&](const std::string& n) { return n.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("waits: replica 'standby1' (10.0.0.2) is 4.8 MB behind in replay")) << run.notices.front();
  EXPECT_TRUE(has("goes on: replicas within 1000 bytes after 3."));
}

TEST(PlanRunner, ReplicaLagIsReadAtMostOnceASecondBetweenBatches) {
  const Plan plan = lagged_backfill_plan(1000);
  PlanRunner runner(plan, 7);
  LagScript script;
  script.lag = [](int) { return replica("0"); };
  auto run = drive_lagged_backfill(runner, script, 400);  // 201 batches, 10 ms apart in the scripted clock
  ASSERT_EQ(run.last.kind, PlanStep::done);
  EXPECT_EQ(script.batches, 201);
  EXPECT_GE(script.lag_reads, 2);
  EXPECT_LE(script.lag_reads, 6);  // ~4 s of scripted time
  EXPECT_EQ(runner.replica_waits(), 0u);
}

TEST(PlanRunner, ReplicaLagThatCannotBeSeenIsReportedOnceAndNeverWaitedOn) {
  const Plan plan = lagged_backfill_plan(1000);
  PlanRunner runner(plan, 7);
  LagScript script;
  script.lag = [](int) { return ok_rows({{std::nullopt, std::nullopt, std::string("true"), std::nullopt}}); };
  auto run = drive_lagged_backfill(runner, script, 400);
  ASSERT_EQ(run.last.kind, PlanStep::done);
  EXPECT_EQ(script.lag_reads, 1);
  EXPECT_EQ(std::count_if(run.notices.begin(), run.notices.end(),
                          [](const std::string& n) { return n.find("cannot see its replicas") != std::string::npos; }),
            1);
}

TEST(PlanRunner, NoReplicaLagReadsWhenTheThrottleIsOff) {
  const Plan plan = lagged_backfill_plan(0);
  PlanRunner runner(plan, 7);
  LagScript script;
  script.lag = [](int) { return replica("999999999"); };
  auto run = drive_lagged_backfill(runner, script, 10);
  ASSERT_EQ(run.last.kind, PlanStep::done);
  EXPECT_EQ(script.lag_reads, 0);
}

TEST(PlanRunner, CancelWhileWaitingForAReplicaStopsResumablyBetweenBatches) {
  const Plan plan = lagged_backfill_plan(1000, 1000);  // a 1 s pause: the lag is read after every batch
  PlanRunner runner(plan, 7);
  LagScript script;
  script.lag = [&](int n) {
    if (n == 3) runner.cancel();
    return replica(n == 0 ? "0" : "5000000");  // behind after the first batch
  };
  auto run = drive_lagged_backfill(runner, script, 100);
  ASSERT_EQ(run.last.kind, PlanStep::failed);
  EXPECT_EQ(run.last.error.sqlstate, "57014");
  EXPECT_TRUE(runner.resumable());
  EXPECT_EQ(script.batches, 1);
  EXPECT_EQ(runner.last_key(), std::vector<std::string>{"2"});
  EXPECT_NE(run.sql.back().find("set_config"), std::string::npos);  // settings restored
}

}  // namespace
}  // namespace schemagate::proxy
