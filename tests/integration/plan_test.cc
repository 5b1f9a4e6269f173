// Rewrite plans executed by the proxy against a real PostgreSQL 15: each rewritten DDL through
// psql (simple protocol) and libpq's extended protocol ends in exactly the schema the original
// statement gives when applied directly to a twin database (pg_dump --schema-only); locks are
// taken under lock_timeout with retries, and a blocker is named; failures leave no INVALID
// index; Ctrl-C and a vanished client stop a backfill between batches.
#include <list>
#include <sstream>
#include <thread>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

const std::string kPsql = std::string(SG_PG_BINDIR) + "/psql";

std::string policy_yaml(int batch_rows = 1000, int attempts = 3, const std::string& lock_timeout_rule = "pass") {
  return "mode: enforce\n"
         "thresholds:\n"
         "  small_table_rows: 1000\n"
         "  lock_timeout: 300ms\n"
         "  retry_attempts: " + std::to_string(attempts) + "\n"
         "  retry_backoff: 100ms\n"
         "  backfill_batch_rows: " + std::to_string(batch_rows) + "\n"
         "rules:\n"
         "  require_lock_timeout: " + lock_timeout_rule + "\n";
}

const char* kSchema = R"(
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 2000) g;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, note text, amount int);
INSERT INTO orders SELECT g, 1 + g % 2000, 'n' || g, g % 100 FROM generate_series(1, 20000) g;
CREATE INDEX orders_amount_idx ON orders (amount);
CREATE TABLE events (id bigint NOT NULL, payload text);
INSERT INTO events SELECT g, 'p' FROM generate_series(1, 5000) g;
ANALYZE;
)";

/// Rows of orders that have a token so far; -1 while the column does not exist yet.
long tokens_filled(const PgConn& c) {
  const auto r = c.exec("SELECT count(token) FROM orders");
  return r.ok && !r.rows.empty() ? std::stol(r.value()) : -1;
}

void collect_notice(void* arg, const PGresult* res) {
  static_cast<std::vector<std::string>*>(arg)->emplace_back(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
}

class Plans : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    reset_databases();
    proxy_ = start_proxy(policy_yaml());
  }

  std::unique_ptr<ProxyProcess> start_proxy(const std::string& policy, std::vector<std::string> extra_args = {}) {
    return start_enforcing(policy_dirs_.emplace_back("sg-policy"), policy, std::move(extra_args));
  }

  static void reset_databases() { recreate_databases(kSchema); }

  static std::string dump(const std::string& db) { return schema_dump(*pg_, db); }

  /// Runs `sql` through the proxy on `app` (psql, or libpq's extended protocol) and directly on
  /// `twin`; both schemas must then be the same.
  void expect_same_schema_as_direct(const std::string& sql, bool extended) {
    SCOPED_TRACE(sql + (extended ? " (extended protocol)" : " (psql)"));
    if (extended) {
      auto c = via_proxy("dbname=app");
      std::vector<std::string> notices;
      PQsetNoticeReceiver(c.get(), collect_notice, &notices);
      const auto r = c.exec_params(sql, {});
      ASSERT_TRUE(r.ok) << r.sqlstate << " " << r.message;
      ASSERT_FALSE(notices.empty());
      EXPECT_NE(notices[0].find(" rewritten by rule "), std::string::npos) << notices[0];
      EXPECT_EQ(c.scalar("SELECT 'still usable'"), "still usable");
    } else {
      const auto r = run_command({kPsql, "-X", "-v", "ON_ERROR_STOP=1", "-d", proxy_->conninfo("dbname=app"), "-c", sql});
      ASSERT_EQ(r.exit_code, 0) << r.output;
      EXPECT_NE(r.output.find("NOTICE:  schemagate: "), std::string::npos) << r.output;
      EXPECT_NE(r.output.find(" rewritten by rule "), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("phase 1/"), std::string::npos) << r.output;
    }
    auto twin = direct("dbname=twin");
    const auto d = twin.exec(sql);
    ASSERT_TRUE(d.ok) << d.message;
    EXPECT_EQ(dump("app"), dump("twin"));
    auto app = direct("dbname=app");
    EXPECT_EQ(app.scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "0");
    EXPECT_EQ(app.scalar("SELECT count(*) FROM pg_constraint WHERE NOT convalidated"), "0");
  }

  std::list<TempDir> policy_dirs_;
};

const std::vector<std::string> kRewrittenDdl = {
    "CREATE INDEX ON orders (customer_id)",
    "CREATE UNIQUE INDEX orders_note_key ON orders (note)",
    "DROP INDEX orders_amount_idx",
    "REINDEX INDEX orders_amount_idx",
    "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)",
    "ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount >= 0)",
    "ALTER TABLE orders ALTER COLUMN note SET NOT NULL",
    "ALTER TABLE orders ADD CONSTRAINT orders_note_uniq UNIQUE (note)",
    "ALTER TABLE events ADD PRIMARY KEY (id)",
    "ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()",
};

TEST_F(Plans, EachRewriteThroughPsqlLeavesTheSchemaTheStatementWould) {
  for (const auto& sql : kRewrittenDdl) {
    reset_databases();
    expect_same_schema_as_direct(sql, false);
  }
}

TEST_F(Plans, EachRewriteThroughTheExtendedProtocolLeavesTheSchemaTheStatementWould) {
  for (const auto& sql : kRewrittenDdl) {
    reset_databases();
    expect_same_schema_as_direct(sql, true);
  }
}

TEST_F(Plans, VolatileDefaultIsBackfilledRowByRowWithoutRewritingTheTable) {
  auto app = direct("dbname=app");
  const auto before = app.scalar("SELECT pg_relation_filenode('orders')");
  auto c = via_proxy("dbname=app");
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  const auto r = c.exec("ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()");
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.command_status, "ALTER TABLE");
  // Every row got its own value, the table was never rewritten (same relfilenode), and new rows
  // get the default.
  EXPECT_EQ(app.scalar("SELECT count(DISTINCT token) FROM orders"), "20000");
  EXPECT_EQ(app.scalar("SELECT pg_relation_filenode('orders')"), before);
  ASSERT_TRUE(c.exec("INSERT INTO orders (id) VALUES (30000)").ok);
  EXPECT_EQ(app.scalar("SELECT token IS NOT NULL FROM orders WHERE id = 30000"), "t");
  EXPECT_EQ(app.scalar("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'token'"),
            "t");
  bool backfill_notice = false;
  for (const auto& n : notices) backfill_notice |= n.find("(20000 rows)") != std::string::npos;
  EXPECT_TRUE(backfill_notice) << ::testing::PrintToString(notices);
}

TEST_F(Plans, LockTimeoutKeepsOtherClientsMovingAndTheBlockerIsNamed) {
  auto holder = direct("dbname=app application_name=lock_holder");
  ASSERT_TRUE(holder.exec("BEGIN").ok);
  ASSERT_TRUE(holder.exec("SELECT count(*) FROM orders").ok);  // ACCESS SHARE until COMMIT

  // Through the proxy the guarded ADD CONSTRAINT gives up after 3 × 300 ms and names the holder.
  auto c = via_proxy("dbname=app");
  const auto r = c.exec("ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount >= 0)");
  EXPECT_EQ(r.sqlstate, "SG004") << r.message;
  EXPECT_NE(r.message.find("could not get its lock within 300 ms in 3 attempts"), std::string::npos) << r.message;
  // While it was retrying, readers were not stuck behind it: a reader is never queued for long.
  auto reader = direct("dbname=app");
  ASSERT_TRUE(reader.exec("SET statement_timeout = '20s'").ok);
  std::thread ddl([&] { c.exec("ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount >= 0)"); });
  std::this_thread::sleep_for(100ms);
  const auto read = reader.exec("SELECT count(*) FROM orders");
  ddl.join();
  EXPECT_TRUE(read.ok) << read.message;
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM pg_constraint WHERE conname = 'amount_positive'"), "0");

  // The same statement sent raw (no lock_timeout) queues the reader behind it for as long as
  // the holder lives: the reader's statement_timeout fires.
  auto raw = direct("dbname=app");
  ASSERT_TRUE(PQsendQuery(raw.get(), "ALTER TABLE orders ADD CONSTRAINT raw_check CHECK (amount >= 0)"));
  ASSERT_TRUE(eventually([&] {
    return direct("dbname=app").scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                                       "query LIKE 'ALTER TABLE orders ADD CONSTRAINT raw_check%'") == "1";
  }));
  ASSERT_TRUE(reader.exec("SET statement_timeout = '1s'").ok);
  EXPECT_EQ(reader.exec("SELECT count(*) FROM orders").sqlstate, "57014");
  ASSERT_TRUE(holder.exec("COMMIT").ok);
  EXPECT_TRUE(drain_results(raw.get()).ok);
}

TEST_F(Plans, ErrorNamesTheBlockingSession) {
  auto holder = direct("dbname=app application_name=lock_holder");
  ASSERT_TRUE(holder.exec("BEGIN").ok);
  ASSERT_TRUE(holder.exec("SELECT count(*) FROM orders").ok);
  auto c = via_proxy("dbname=app");
  PGresult* res = PQexec(c.get(), "ALTER TABLE orders ALTER COLUMN note SET NOT NULL");
  ASSERT_EQ(PQresultStatus(res), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(res, PG_DIAG_SQLSTATE), "SG004");
  const std::string detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  PQclear(res);
  EXPECT_NE(detail.find("pid " + std::to_string(holder.backend_pid())), std::string::npos) << detail;
  EXPECT_NE(detail.find("application_name 'lock_holder'"), std::string::npos) << detail;
  EXPECT_NE(detail.find("holds a lock on"), std::string::npos) << detail;
  ASSERT_TRUE(holder.exec("COMMIT").ok);
  // Once the blocker is gone the same statement goes through.
  EXPECT_TRUE(c.exec("ALTER TABLE orders ALTER COLUMN note SET NOT NULL").ok);
}

TEST_F(Plans, RetriesUntilTheBlockerCommits) {
  proxy_ = start_proxy(policy_yaml(1000, 50));
  auto holder = direct("dbname=app");
  ASSERT_TRUE(holder.exec("BEGIN").ok);
  ASSERT_TRUE(holder.exec("SELECT count(*) FROM orders").ok);
  auto c = via_proxy("dbname=app");
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  ASSERT_TRUE(PQsendQuery(c.get(), "ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount >= 0)"));
  // Commit once the proxy reports its first retry.
  ASSERT_TRUE(eventually(
      [&] {
        PQconsumeInput(c.get());
        PQisBusy(c.get());  // parses what arrived: notices reach the receiver here
        for (const auto& n : notices)
          if (n.find("retrying in") != std::string::npos) return true;
        return false;
      },
      60s));
  ASSERT_TRUE(holder.exec("COMMIT").ok);
  ASSERT_TRUE(wait_not_busy(c.get(), 120s));
  const auto r = drain_results(c.get());
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(direct("dbname=app").scalar("SELECT convalidated FROM pg_constraint WHERE conname = 'amount_positive'"),
            "t");
}

TEST_F(Plans, FailedUniqueIndexLeavesNoInvalidIndex) {
  auto c = via_proxy("dbname=app");
  const auto r = c.exec("CREATE UNIQUE INDEX orders_amount_key ON orders (amount)");  // amount repeats
  EXPECT_EQ(r.sqlstate, "SG004") << r.message;
  auto app = direct("dbname=app");
  EXPECT_EQ(app.scalar("SELECT count(*) FROM pg_class WHERE relname = 'orders_amount_key'"), "0");
  EXPECT_EQ(app.scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "0");
  EXPECT_EQ(c.scalar("SHOW lock_timeout"), "0");  // the session's settings are restored
}

TEST_F(Plans, InsideATransactionBlockThePlanIsNotStarted) {
  auto c = via_proxy("dbname=app");
  ASSERT_TRUE(c.exec("BEGIN").ok);
  EXPECT_EQ(c.exec("CREATE INDEX orders_note_idx ON orders (note)").sqlstate, "SG005");
  ASSERT_TRUE(c.exec("ROLLBACK").ok);
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM pg_class WHERE relname = 'orders_note_idx'"), "0");
}

TEST_F(Plans, GuardedStatementsRunInsideTheClientsTransaction) {
  proxy_ = start_proxy(policy_yaml(1000, 3, "rewrite"));
  auto c = via_proxy("dbname=app");
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  ASSERT_TRUE(c.exec("BEGIN").ok);
  const auto r = c.exec("ALTER TABLE orders ADD COLUMN c int");
  ASSERT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices[0].find("rewritten by rule require_lock_timeout"), std::string::npos) << notices[0];
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INTRANS);
  EXPECT_EQ(c.scalar("SHOW lock_timeout"), "0");  // the guard's SET LOCAL does not outlive the statement
  ASSERT_TRUE(c.exec("COMMIT").ok);
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                                        "AND attname = 'c'"),
            "1");

  // Blocked inside the transaction: retried under savepoints, then SG004, and the block fails as
  // the statement would have made it fail; nothing of it is committed.
  auto holder = direct("dbname=app");
  ASSERT_TRUE(holder.exec("BEGIN").ok);
  ASSERT_TRUE(holder.exec("SELECT count(*) FROM orders").ok);
  ASSERT_TRUE(c.exec("BEGIN").ok);
  ASSERT_TRUE(c.exec("INSERT INTO customers VALUES (99999, 'in tx')").ok);
  EXPECT_EQ(c.exec("ALTER TABLE orders ADD COLUMN d int").sqlstate, "SG004");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INERROR);
  ASSERT_TRUE(c.exec("COMMIT").ok);  // COMMIT of a failed block rolls back
  ASSERT_TRUE(holder.exec("COMMIT").ok);
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM customers WHERE id = 99999"), "0");
}

TEST_F(Plans, CtrlCStopsABackfillBetweenBatches) {
  proxy_ = start_proxy(policy_yaml(20));  // 1,000 batches: long enough to cancel
  auto c = via_proxy("dbname=app");
  ASSERT_TRUE(PQsendQuery(c.get(), "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()"));
  auto app = direct("dbname=app");
  ASSERT_TRUE(eventually([&] { return tokens_filled(app) > 0; }, 60s));
  ASSERT_NO_FATAL_FAILURE(expect_cancelled(c.get(), 60s));
  const auto filled = tokens_filled(app);
  EXPECT_GT(filled, 0);
  EXPECT_LT(filled, 20000);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(app.scalar("SELECT count(token) FROM orders"), std::to_string(filled));  // stopped, not running on
  EXPECT_EQ(c.scalar("SHOW lock_timeout"), "0");
  EXPECT_EQ(c.scalar("SELECT 'usable'"), "usable");

  // The journal kept where it stopped: the same statement again resumes the backfill.
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  const auto again = c.exec("ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()");
  EXPECT_TRUE(again.ok) << again.message;
  ASSERT_GE(notices.size(), 2u);
  EXPECT_NE(notices[1].find("schemagate: resuming migration "), std::string::npos) << notices[1];
  EXPECT_EQ(app.scalar("SELECT count(token) FROM orders"), "20000");
  const auto listed = run_command({proxy_binary(), "migrations", "list", "--state", proxy_->dir() + "/state.db"});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("succeeded"), std::string::npos) << listed.output;
}

TEST_F(Plans, MigrationsResumeFinishesAnInterruptedPlanWithoutTheClient) {
  proxy_ = start_proxy(policy_yaml(20));  // 1,000 batches: long enough to cancel
  const std::string journal = proxy_->dir() + "/state.db";
  auto app = direct("dbname=app");
  {
    auto c = via_proxy("dbname=app");
    ASSERT_TRUE(PQsendQuery(c.get(), "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()"));
    ASSERT_TRUE(eventually([&] { return tokens_filled(app) > 0; }, 60s));
    ASSERT_NO_FATAL_FAILURE(expect_cancelled(c.get(), 60s));
  }  // the client is gone for good: nobody will send the statement again
  const auto filled = tokens_filled(app);
  ASSERT_GT(filled, 0);
  ASSERT_LT(filled, 20000);
  const auto listed = run_command({proxy_binary(), "migrations", "list", "--format", "json", "--state", journal});
  // The id: 16 hex characters after the first "id" key.
  const auto key = listed.output.find("\"id\"");
  ASSERT_NE(key, std::string::npos) << listed.output;
  const auto open_quote = listed.output.find('"', listed.output.find(':', key));
  ASSERT_NE(open_quote, std::string::npos) << listed.output;
  const std::string id = listed.output.substr(open_quote + 1, 16);
  ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("\"interrupted\""), std::string::npos) << listed.output;

  // Another user than the plan's is refused: the phases must run with the client's privileges.
  ASSERT_TRUE(app.exec("DROP ROLE IF EXISTS intruder; CREATE ROLE intruder LOGIN").ok);
  const auto wrong = run_command({proxy_binary(), "migrations", "resume", id, "--state", journal, "--dsn",
                                  pg_->conninfo("dbname=app user=intruder")});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("belongs to user 'postgres' on database 'app'"), std::string::npos) << wrong.output;

  const auto resumed =
      run_command({proxy_binary(), "migrations", "resume", id, "--state", journal, "--dsn", pg_->conninfo("dbname=app")});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming migration " + id + " at phase 3/3"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("phase 3/3 done"), std::string::npos) << resumed.output;
  EXPECT_EQ(tokens_filled(app), 20000);
  EXPECT_EQ(app.scalar("SELECT count(*) FROM orders WHERE token IS NULL"), "0");
  // The backfill went on after its last key: rows filled before the interruption kept their values.
  const auto shown = run_command({proxy_binary(), "migrations", "show", id, "--format", "json", "--state", journal});
  EXPECT_NE(shown.output.find("\"succeeded\""), std::string::npos) << shown.output;
  // And once done it cannot be resumed again.
  const auto again =
      run_command({proxy_binary(), "migrations", "resume", id, "--state", journal, "--dsn", pg_->conninfo("dbname=app")});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("is succeeded; only an interrupted one, or a running one its proxy abandoned, can be resumed"), std::string::npos) << again.output;
  // The twin: the same statement applied directly gives the same schema.
  ASSERT_TRUE(direct("dbname=twin").exec("ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()").ok);
  EXPECT_EQ(dump("app"), dump("twin"));
}

TEST_F(Plans, AProxyKilledMidBackfillResumesWhenTheStatementIsSentAgain) {
  proxy_ = start_proxy(policy_yaml(20));
  const std::string journal = proxy_->dir() + "/state.db";
  auto app = direct("dbname=app");
  {
    auto c = via_proxy("dbname=app");
    ASSERT_TRUE(PQsendQuery(c.get(), "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()"));
    ASSERT_TRUE(eventually([&] { return tokens_filled(app) > 0; }, 60s));
    proxy_->kill_hard();
  }
  // A new proxy on the same journal finds the plan its predecessor left running.
  auto second = start_proxy(policy_yaml(20), {"--state", journal});
  EXPECT_TRUE(eventually([&] { return second->log().find("marked interrupted") != std::string::npos; }));
  auto c = pq_connect_ok(second->conninfo("dbname=app"));
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  const auto r = c.exec("ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()");
  ASSERT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  ASSERT_GE(notices.size(), 2u);
  EXPECT_NE(notices[1].find("resuming migration"), std::string::npos) << notices[1];
  EXPECT_EQ(tokens_filled(app), 20000);
  const auto listed = run_command({proxy_binary(), "migrations", "list", "--format", "json", "--state", journal});
  EXPECT_NE(listed.output.find("\"succeeded\""), std::string::npos) << listed.output;
}

// Two proxies on one journal file (one host): a proxy that starts leaves alone the plan the
// other one runs, refuses to run the same statement twice, and takes the plan over once the
// process that ran it is gone.
TEST_F(Plans, ProxiesSharingAJournalLeaveEachOthersPlansAloneUntilTheOwnerIsGone) {
  // One batch fills the table, then the backfill pauses for a minute before the batch that
  // finds no row: the plan is deterministically running meanwhile.
  std::string policy = policy_yaml(50000);
  policy.insert(policy.find("rules:"), "  backfill_pause: 60s\n");
  proxy_ = start_proxy(policy);
  const std::string journal = proxy_->dir() + "/state.db";
  const std::string sql = "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()";
  auto app = direct("dbname=app");
  auto first = via_proxy("dbname=app");
  ASSERT_TRUE(PQsendQuery(first.get(), sql.c_str()));
  ASSERT_TRUE(eventually([&] { return tokens_filled(app) == 20000; }, 60s));

  auto second = start_proxy(policy, {"--state", journal});
  EXPECT_EQ(second->log().find("marked interrupted"), std::string::npos) << second->log();
  const auto listed = run_command({proxy_binary(), "migrations", "list", "--format", "json", "--state", journal});
  EXPECT_NE(listed.output.find("\"running\""), std::string::npos) << listed.output;
  auto c = pq_connect_ok(second->conninfo("dbname=app"));
  const auto twice = c.exec(sql);
  EXPECT_EQ(twice.sqlstate, "SG004") << twice.message;
  EXPECT_NE(twice.message.find("already running as migration"), std::string::npos) << twice.message;

  proxy_->kill_hard();  // the owner is gone: its lease need not run out first
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  const auto r = c.exec(sql);
  ASSERT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  bool resumed = false;
  for (const auto& n : notices) resumed = resumed || n.find("resuming migration") != std::string::npos;
  EXPECT_TRUE(resumed);
  EXPECT_EQ(app.scalar("SELECT count(*) FROM orders WHERE token IS NULL"), "0");
  const auto done = run_command({proxy_binary(), "migrations", "list", "--format", "json", "--state", journal});
  EXPECT_NE(done.output.find("\"succeeded\""), std::string::npos) << done.output;
  EXPECT_EQ(done.output.find("\"running\""), std::string::npos) << done.output;
}

TEST_F(Plans, ADatabaseRestartMidPlanIsReportedAndTheStatementResumesLater) {
  proxy_ = start_proxy(policy_yaml(20));
  auto c = via_proxy("dbname=app");
  {
    auto probe = direct("dbname=app");
    ASSERT_TRUE(PQsendQuery(c.get(), "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()"));
    ASSERT_TRUE(eventually([&] { return tokens_filled(probe) > 0; }, 60s));
  }
  pg_->restart();
  // The client learns that its statement did not complete: the proxy relays the loss of the
  // server connection (FATAL 08006) and closes, as a direct connection would.
  EXPECT_TRUE(eventually([&] { return !wait_not_busy(c.get(), 1s) || !drain_results(c.get()).ok; }, 60s));
  EXPECT_TRUE(eventually([&] { return PQconsumeInput(c.get()) == 0; }, 60s));
  auto again = via_proxy("dbname=app");
  std::vector<std::string> notices;
  PQsetNoticeReceiver(again.get(), collect_notice, &notices);
  const auto done = again.exec("ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()");
  ASSERT_TRUE(done.ok) << done.sqlstate << " " << done.message;
  ASSERT_GE(notices.size(), 2u);
  EXPECT_NE(notices[1].find("resuming migration"), std::string::npos) << notices[1];
  EXPECT_EQ(tokens_filled(direct("dbname=app")), 20000);
}

TEST_F(Plans, PlanCommandPrintsThePhasesTheProxyWouldRun) {
  TempDir work("sg-plan");
  write_file(work.file("m.sql"),
             "CREATE INDEX ON orders (customer_id);\n"
             "ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();\n");
  const std::string policy = policy_dirs_.front().file("policy.yaml");
  const auto live = run_command_split(
      {proxy_binary(), "plan", "--policy", policy, "--dsn", pg_->conninfo("dbname=app"), work.file("m.sql")});
  EXPECT_EQ(live.exit_code, 0) << live.output << live.errors;
  EXPECT_NE(live.output.find("(live facts)"), std::string::npos) << live.output;
  EXPECT_NE(live.output.find("CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders"), std::string::npos)
      << live.output;
  EXPECT_NE(live.output.find("[backfill"), std::string::npos) << live.output;
  const auto json = run_command_split(
      {proxy_binary(), "plan", "--policy", policy, "--format", "json", "--dsn", pg_->conninfo("dbname=app"),
       work.file("m.sql")});
  EXPECT_EQ(json.exit_code, 0) << json.errors;
  EXPECT_NE(json.output.find("\"kind\": \"autocommit\""), std::string::npos) << json.output;
  // Nothing was run: planning only reads the catalog.
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM pg_class WHERE relname = 'orders_customer_id_idx'"),
            "0");
  const auto offline = run_command_split({proxy_binary(), "plan", "--policy", policy, work.file("m.sql")});
  EXPECT_EQ(offline.exit_code, 0) << offline.errors;
  EXPECT_NE(offline.output.find("facts unknown"), std::string::npos) << offline.output;
  const auto down = run_command_split(
      {proxy_binary(), "plan", "--dsn", "host=127.0.0.1 port=1 connect_timeout=5", work.file("m.sql")});
  EXPECT_EQ(down.exit_code, 1) << down.output << down.errors;
  EXPECT_NE(down.errors.find("cannot connect"), std::string::npos) << down.errors;
  const auto help = run_command_split({proxy_binary(), "plan", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("usage: schemagate plan"), std::string::npos);
}

TEST_F(Plans, AClientThatVanishesMidBackfillStopsThePlan) {
  proxy_ = start_proxy(policy_yaml(20));
  {
    auto c = via_proxy("dbname=app application_name=vanishing");
    ASSERT_TRUE(PQsendQuery(c.get(), "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()"));
    auto probe = direct("dbname=app");
    ASSERT_TRUE(eventually([&] { return tokens_filled(probe) > 0; }, 60s));
  }  // the connection closes here, mid-backfill
  auto app = direct("dbname=app");
  std::string last, now = app.scalar("SELECT count(token) FROM orders");
  ASSERT_TRUE(eventually(
      [&] {
        last = now;
        std::this_thread::sleep_for(300ms);
        now = app.scalar("SELECT count(token) FROM orders");
        return now == last;
      },
      60s));
  EXPECT_LT(std::stoi(now), 20000);
  EXPECT_TRUE(eventually([&] {
    return app.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vanishing'") == "0";
  }, 30s));
  // The journal tells the truth: interrupted, with the rows it got to.
  const auto listed = run_command({proxy_binary(), "migrations", "list", "--format", "json", "--state",
                                   proxy_->dir() + "/state.db"});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("\"interrupted\""), std::string::npos) << listed.output;
}

}  // namespace
}  // namespace schemagate::testing
