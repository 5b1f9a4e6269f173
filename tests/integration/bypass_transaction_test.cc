// A long statement cannot ride on an ACCESS EXCLUSIVE lock its transaction already holds (issue 8,
// class 4). The classic outage: a migration adds a column (a brief ACCESS EXCLUSIVE lock), then
// backfills it in the same transaction, so the lock is held for the whole backfill and every
// query on the table queues behind it. With the built-in policy in enforce mode the backfill is
// refused (SG001, rule long_statement_under_exclusive_lock) and the transaction rolls back: the
// lock is gone at once. The same statements sent directly run the whole-table UPDATE with the
// lock held, as pg_locks shows, so each case can fail. Across messages the proxy learns of the
// lock from the statement it let pass and from the transaction's own pg_locks.
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

// 20 000 rows, analysed: above the built-in small_table_rows (10 000), so the table counts as large.
const char* kSchema = R"(
CREATE TABLE big (id bigint PRIMARY KEY, v int);
INSERT INTO big SELECT g, g FROM generate_series(1, 20000) g;
ANALYZE big;
CREATE TABLE events (id bigint PRIMARY KEY, at timestamp);
INSERT INTO events SELECT g, '2026-01-01'::timestamp + g * interval '1 minute' FROM generate_series(1, 20000) g;
ANALYZE events;
)";

class BypassTransaction : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ASSERT_NO_FATAL_FAILURE(recreate_databases(kSchema, {"app"}));
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "enforce";  // the built-in policy: every rule at its default
    proxy_ = ProxyProcess::start(o);
  }

  static std::string column_count() {
    return direct("dbname=app").scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = 'big'::regclass AND attname = 'c'");
  }

  // Directly: the backfill runs, and while it does the transaction holds ACCESS EXCLUSIVE on big.
  static void expect_direct_backfill_runs_under_the_lock(const std::vector<std::string>& steps) {
    auto c = direct("dbname=app");
    for (const auto& s : steps) {
      const auto r = c.exec(s);
      ASSERT_TRUE(r.ok) << s << ": " << r.message;
    }
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'big'::regclass "
                       "AND mode = 'AccessExclusiveLock' AND granted"),
              "1");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM big WHERE c = 0"), "20000") << "the direct backfill did not run";
    ASSERT_TRUE(c.exec("ROLLBACK").ok);
  }
};

TEST_F(BypassTransaction, BackfillInALaterMessageIsRefusedAndTheLockReleased) {
  for (const bool extended : {false, true}) {
    SCOPED_TRACE(extended ? "extended protocol" : "simple protocol");
    auto client = via_proxy("dbname=app");
    for (const char* s : {"SET lock_timeout = '5s'", "BEGIN", "ALTER TABLE big ADD COLUMN c int"}) {
      const auto r = client.exec(s);
      ASSERT_TRUE(r.ok) << s << ": " << r.message;
    }
    const char* backfill = "UPDATE big SET c = 0";
    const auto r = extended ? client.exec_params(backfill, {}) : client.exec(backfill);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.sqlstate, "SG001") << r.message;
    EXPECT_NE(r.message.find("long_statement_under_exclusive_lock"), std::string::npos) << r.message;
    // The transaction failed, so its lock is gone; COMMIT rolls it back.
    EXPECT_EQ(PQtransactionStatus(client.get()), PQTRANS_INERROR);
    EXPECT_TRUE(client.exec("COMMIT").ok);
    EXPECT_EQ(column_count(), "0");
    EXPECT_EQ(client.scalar("SELECT 'still usable'"), "still usable");
  }
  expect_direct_backfill_runs_under_the_lock({"BEGIN", "ALTER TABLE big ADD COLUMN c int", "UPDATE big SET c = 0"});
}

// ALTER TABLE rewrites the table's pg_class row, so that row carries the transaction's xid just
// as a table created in it would: an altered table must not pass for a new one (which blocks
// nobody), or the index build after it would run under the ALTER's lock.
TEST_F(BypassTransaction, AnAlteredTableIsNotMistakenForOneCreatedInTheTransaction) {
  auto client = via_proxy("dbname=app");
  for (const char* s : {"SET lock_timeout = '5s'", "BEGIN", "ALTER TABLE big ADD COLUMN c int"}) {
    const auto r = client.exec(s);
    ASSERT_TRUE(r.ok) << s << ": " << r.message;
  }
  const auto r = client.exec("CREATE INDEX big_c ON big (c)");
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.sqlstate == "SG001" || r.sqlstate == "SG005") << r.sqlstate << " " << r.message;
  ASSERT_TRUE(client.exec("ROLLBACK").ok);
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM pg_class WHERE relname = 'big_c'"), "0");
  // Sent directly, the index is built inside the transaction, under the ALTER's lock.
  auto d = direct("dbname=app");
  for (const char* s : {"BEGIN", "ALTER TABLE big ADD COLUMN c int", "CREATE INDEX big_c ON big (c)"})
    ASSERT_TRUE(d.exec(s).ok) << s;
  EXPECT_EQ(d.scalar("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'big'::regclass "
                     "AND mode = 'AccessExclusiveLock' AND granted"),
            "1");
  ASSERT_TRUE(d.exec("ROLLBACK").ok);
}

TEST_F(BypassTransaction, BackfillInTheSameMessageIsRefusedBeforeAnythingRuns) {
  auto client = via_proxy("dbname=app");
  ASSERT_TRUE(client.exec("SET lock_timeout = '5s'").ok);
  for (const char* sql : {"BEGIN; ALTER TABLE big ADD COLUMN c int; UPDATE big SET c = 0 WHERE c IS NULL; COMMIT",
                          "ALTER TABLE big ADD COLUMN c int; UPDATE big SET c = 0"}) {
    const auto r = client.exec(sql);
    EXPECT_FALSE(r.ok) << sql;
    EXPECT_EQ(r.sqlstate, "SG001") << sql << ": " << r.message;
    if (PQtransactionStatus(client.get()) != PQTRANS_IDLE) {
      ASSERT_TRUE(client.exec("ROLLBACK").ok);
    }
    EXPECT_EQ(column_count(), "0") << sql;
  }
  expect_direct_backfill_runs_under_the_lock({"BEGIN; ALTER TABLE big ADD COLUMN c int; UPDATE big SET c = 0"});
}

TEST_F(BypassTransaction, ValidateAfterLockTableInAnEarlierMessageIsRefused) {
  ASSERT_TRUE(direct("dbname=app").exec("ALTER TABLE big ADD CONSTRAINT v_pos CHECK (v > 0) NOT VALID").ok);
  auto client = via_proxy("dbname=app");
  for (const char* s : {"SET lock_timeout = '5s'", "BEGIN", "LOCK TABLE big IN ACCESS EXCLUSIVE MODE"}) {
    const auto r = client.exec(s);  // LOCK TABLE passes with a warning (rule lock_table)
    ASSERT_TRUE(r.ok) << s << ": " << r.message;
  }
  const auto r = client.exec("ALTER TABLE big VALIDATE CONSTRAINT v_pos");
  EXPECT_EQ(r.sqlstate, "SG001") << r.message;
  ASSERT_TRUE(client.exec("ROLLBACK").ok);
  EXPECT_EQ(direct("dbname=app").scalar("SELECT convalidated::text FROM pg_constraint WHERE conname = 'v_pos'"), "false");
}

// What must pass untouched: a batch of a batched backfill, the backfill after COMMIT, other
// tables, and tables the transaction created itself.
TEST_F(BypassTransaction, BatchesLaterTransactionsAndNewTablesPass) {
  auto client = via_proxy("dbname=app");
  for (const char* s : {"SET lock_timeout = '5s'", "BEGIN", "ALTER TABLE big ADD COLUMN c int",
                        "UPDATE big SET c = 0 WHERE id BETWEEN 1 AND 1000", "UPDATE big SET v = v + 1 WHERE id = 7",
                        "CREATE TABLE fresh AS SELECT * FROM big", "UPDATE fresh SET c = 1", "COMMIT",
                        "UPDATE big SET c = 0 WHERE c IS NULL"}) {
    const auto r = client.exec(s);
    EXPECT_TRUE(r.ok) << s << ": " << r.sqlstate << " " << r.message;
  }
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM big WHERE c = 0"), "20000");
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM fresh WHERE c = 1"), "20000");
}

// A "safe when" taken from the live session: under a fixed UTC TimeZone PostgreSQL 12+ changes
// timestamp to timestamptz (and back) without rewriting the table, so the proxy lets it pass;
// under any other zone it rewrites every row under ACCESS EXCLUSIVE, and the proxy refuses it.
// pg_class.relfilenode shows which one the server really did.
TEST_F(BypassTransaction, TimestampToTimestamptzFollowsTheSessionTimeZone) {
  const auto relfilenode = [] { return direct("dbname=app").scalar("SELECT relfilenode FROM pg_class WHERE relname = 'events'"); };
  const std::string before = relfilenode();
  {
    auto client = via_proxy("dbname=app options='-c TimeZone=UTC'");
    ASSERT_TRUE(client.exec("SET lock_timeout = '5s'").ok);
    const auto r = client.exec("ALTER TABLE events ALTER COLUMN at TYPE timestamptz");
    EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
    EXPECT_EQ(relfilenode(), before) << "the server rewrote the table although the session is in UTC";
    // A SET in the same message may change the zone before the ALTER runs: judged as a rewrite.
    const auto set_first = client.exec("SET TimeZone = 'Europe/Paris'; ALTER TABLE events ALTER COLUMN at TYPE timestamp");
    EXPECT_EQ(set_first.sqlstate, "SG001") << set_first.message;
    // A zone changed by an earlier message is the one in force (ParameterStatus).
    ASSERT_TRUE(client.exec("SET TimeZone = 'Europe/Paris'").ok);
    const auto paris = client.exec("ALTER TABLE events ALTER COLUMN at TYPE timestamp");
    EXPECT_EQ(paris.sqlstate, "SG001") << paris.message;
    EXPECT_NE(paris.message.find("alter_column_type"), std::string::npos) << paris.message;
    EXPECT_EQ(relfilenode(), before);
  }
  // Sent directly under that zone, the same statement does rewrite the table.
  auto d = direct("dbname=app options='-c TimeZone=Europe/Paris'");
  ASSERT_TRUE(d.exec("ALTER TABLE events ALTER COLUMN at TYPE timestamp").ok);
  EXPECT_NE(relfilenode(), before) << "no rewrite directly either: the case proves nothing";
}

}  // namespace
}  // namespace schemagate::testing
