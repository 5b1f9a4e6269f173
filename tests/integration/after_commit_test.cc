// Constraints added inside the client's transaction block (as migration tools do): the proxy adds
// them NOT VALID in the transaction and runs their VALIDATE once it has committed, before
// COMMIT returns — on a real PostgreSQL 15, through libpq's simple and extended protocols and
// psql, compared with the same transaction applied directly to a twin database. A rollback
// drops the waiting VALIDATE; a validation that fails after the commit warns and leaves the
// constraint NOT VALID; a transaction ended in a shape the proxy does not wait on leaves the
// VALIDATE to `schemagate migrations resume`.
#include <sstream>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

const std::string kPsql = std::string(SG_PG_BINDIR) + "/psql";

const char* kPolicy =
    "mode: enforce\n"
    "thresholds:\n"
    "  small_table_rows: 1000\n"
    "  lock_timeout: 300ms\n"
    "  retry_attempts: 3\n"
    "  retry_backoff: 100ms\n"
    "rules:\n"
    "  require_lock_timeout: pass\n";

const char* kSchema = R"(
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 2000) g;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount int);
INSERT INTO orders SELECT g, 1 + g % 2000, g % 100 FROM generate_series(1, 20000) g;
ANALYZE;
)";

const std::string kAddFk =
    "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)";
const std::string kAddCheck = "ALTER TABLE orders ADD CONSTRAINT orders_amount_check CHECK (amount >= 0)";

void collect_notice(void* arg, const PGresult* res) {
  const char* severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  static_cast<std::vector<std::string>*>(arg)->push_back(std::string(severity ? severity : "?") + ": " +
                                                         PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
}

bool any_contains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

class AfterCommit : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ASSERT_NO_FATAL_FAILURE(recreate_databases(kSchema));
    proxy_ = start_enforcing(policy_, kPolicy);
  }

  static std::string dump(const std::string& db) { return schema_dump(*pg_, db); }

  std::string journal_list() const {
    const auto r = run_command({proxy_binary(), "migrations", "list", "--format", "json", "--state",
                                proxy_->dir() + "/state.db"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  }

  static std::string validated(const PgConn& c, const std::string& name) {
    return c.scalar("SELECT coalesce((SELECT convalidated::text FROM pg_constraint WHERE conname = '" + name +
                    "'), 'absent')");
  }

  TempDir policy_{"sg-policy"};
};

TEST_F(AfterCommit, ConstraintsAddedInATransactionAreValidatedWhenItCommits) {
  for (const bool extended : {false, true}) {
    SCOPED_TRACE(extended ? "extended protocol" : "simple protocol");
    const std::string& sql = extended ? kAddCheck : kAddFk;
    const std::string name = extended ? "orders_amount_check" : "orders_customer_fk";
    auto c = via_proxy("dbname=app");
    std::vector<std::string> notices;
    PQsetNoticeReceiver(c.get(), collect_notice, &notices);
    auto run = [&](const std::string& s) { return extended ? c.exec_params(s, {}) : c.exec(s); };
    ASSERT_TRUE(run("BEGIN").ok);
    const std::string customer = extended ? "5001" : "5000";
    ASSERT_TRUE(run("INSERT INTO customers VALUES (" + customer + ", 'in the same transaction')").ok);
    const auto add = run(sql);
    ASSERT_TRUE(add.ok) << add.sqlstate << " " << add.message;
    EXPECT_TRUE(any_contains(notices, "rewritten by rule")) << joined(notices);
    EXPECT_TRUE(any_contains(notices, "will run when this transaction commits")) << joined(notices);
    EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INTRANS);
    EXPECT_EQ(validated(c, name), "false");  // NOT VALID for now, inside the transaction
    notices.clear();
    const auto commit = run("COMMIT");
    ASSERT_TRUE(commit.ok) << commit.sqlstate << " " << commit.message;
    EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
    // The VALIDATE ran before COMMIT returned.
    EXPECT_TRUE(any_contains(notices, "phase 2/2 done")) << joined(notices);
    EXPECT_EQ(validated(direct("dbname=app"), name), "true");
    EXPECT_EQ(direct("dbname=app").scalar("SELECT name FROM customers WHERE id = " + customer), "in the same transaction");
    EXPECT_EQ(c.scalar("SELECT 'usable'"), "usable");
    // One ReadyForQuery per request: libpq reports a stray one as a notice.
    EXPECT_FALSE(any_contains(notices, "arrived from server while idle")) << joined(notices);
  }
  // psql, the way a developer pastes a migration: BEGIN, the statement, COMMIT as separate commands.
  const auto r = run_command({kPsql, "-X", "-v", "ON_ERROR_STOP=1", "-d", proxy_->conninfo("dbname=app"), "-c", "BEGIN",
                              "-c", "ALTER TABLE orders ADD CONSTRAINT orders_id_check CHECK (id > 0)", "-c", "COMMIT"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("will run when this transaction commits"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("phase 2/2 done"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("arrived from server while idle"), std::string::npos) << r.output;
  EXPECT_EQ(validated(direct("dbname=app"), "orders_id_check"), "true");

  // The same transactions applied directly: the same schema.
  auto twin = direct("dbname=twin");
  for (const auto& s : {kAddFk, kAddCheck, std::string("ALTER TABLE orders ADD CONSTRAINT orders_id_check CHECK (id > 0)")})
    ASSERT_TRUE(twin.exec("BEGIN; " + s + "; COMMIT").ok) << s;
  EXPECT_EQ(dump("app"), dump("twin"));
  const auto journal = journal_list();
  EXPECT_EQ(journal.find("\"running\""), std::string::npos) << journal;
  EXPECT_EQ(journal.find("\"failed\""), std::string::npos) << journal;
  EXPECT_NE(journal.find("\"succeeded\""), std::string::npos) << journal;
}

TEST_F(AfterCommit, WithoutTheProxyTheConstraintIsValidatedUnderItsAddLockInsideTheTransaction) {
  // Why the proxy defers it: added directly, the ALTER scans the table for validation while it
  // holds SHARE ROW EXCLUSIVE, so a writer queues until the transaction ends.
  auto c = direct("dbname=app");
  ASSERT_TRUE(c.exec("BEGIN").ok);
  ASSERT_TRUE(c.exec(kAddFk).ok);
  EXPECT_EQ(validated(c, "orders_customer_fk"), "true");  // validated at once, in the transaction
  auto writer = direct("dbname=app");
  ASSERT_TRUE(writer.exec("SET lock_timeout = '200ms'").ok);
  EXPECT_EQ(writer.exec("INSERT INTO orders VALUES (900001, 1, 1)").sqlstate, "55P03");
  ASSERT_TRUE(c.exec("ROLLBACK").ok);

  // Through the proxy the ADD takes the same lock (held until COMMIT, as in any transaction)
  // without the scan: that runs after COMMIT, under SHARE UPDATE EXCLUSIVE, beside writers.
  auto p = via_proxy("dbname=app");
  ASSERT_TRUE(p.exec("BEGIN").ok);
  ASSERT_TRUE(p.exec(kAddFk).ok);
  EXPECT_EQ(validated(p, "orders_customer_fk"), "false");
  ASSERT_TRUE(p.exec("COMMIT").ok);
  EXPECT_EQ(validated(writer, "orders_customer_fk"), "true");
}

TEST_F(AfterCommit, ARollbackDropsTheWaitingValidate) {
  auto c = via_proxy("dbname=app");
  ASSERT_TRUE(c.exec("BEGIN").ok);
  ASSERT_TRUE(c.exec(kAddFk).ok);
  ASSERT_TRUE(c.exec("ROLLBACK").ok);
  EXPECT_EQ(validated(direct("dbname=app"), "orders_customer_fk"), "absent");
  EXPECT_EQ(c.scalar("SELECT 'usable'"), "usable");
  // A failed transaction's COMMIT rolls back too.
  ASSERT_TRUE(c.exec("BEGIN").ok);
  ASSERT_TRUE(c.exec(kAddCheck).ok);
  EXPECT_EQ(c.exec("SELECT 1/0").sqlstate, "22012");
  const auto commit = c.exec("COMMIT");
  EXPECT_TRUE(commit.ok) << commit.message;  // PostgreSQL answers ROLLBACK
  EXPECT_EQ(validated(direct("dbname=app"), "orders_amount_check"), "absent");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
  const auto journal = journal_list();
  EXPECT_EQ(journal.find("\"running\""), std::string::npos) << journal;
  EXPECT_EQ(journal.find("\"succeeded\""), std::string::npos) << journal;
  EXPECT_NE(journal.find("the transaction rolled back"), std::string::npos) << journal;
  EXPECT_NE(proxy_->log().find("are dropped: the transaction rolled back"), std::string::npos) << proxy_->log();
}

// A ROLLBACK with the next request pipelined right behind it (one write, before its reply; libpq
// cannot send that outside pipeline mode): the waiting VALIDATE is still dropped as rolled back,
// not left `interrupted` for `migrations resume` to validate a constraint that never committed.
TEST_F(AfterCommit, ARollbackWithARequestPipelinedBehindItDropsTheWaitingValidate) {
  auto raw = RawClient::connect(proxy_->port());
  ASSERT_TRUE(find_message(raw.startup("postgres", "app"), 'Z').has_value());
  ASSERT_FALSE(first_error(raw.simple_query("BEGIN")).has_value());
  const auto add = raw.simple_query(kAddFk);
  ASSERT_FALSE(first_error(add).has_value()) << first_error(add)->field('M');
  raw.send(wire::query("ROLLBACK") + wire::query("SELECT 'next'"));
  const auto rolled_back = raw.read_until_ready(30s);
  EXPECT_FALSE(first_error(rolled_back).has_value());
  const auto next = raw.read_until_ready(30s);
  EXPECT_TRUE(find_message(next, 'D').has_value()) << "the pipelined SELECT got no row";
  EXPECT_EQ(validated(direct("dbname=app"), "orders_customer_fk"), "absent");
  const auto journal = journal_list();
  EXPECT_NE(journal.find("the transaction rolled back"), std::string::npos) << journal;
  EXPECT_EQ(journal.find("\"interrupted\""), std::string::npos) << journal;
  EXPECT_EQ(journal.find("\"running\""), std::string::npos) << journal;
}

TEST_F(AfterCommit, AValidationThatFailsAfterTheCommitWarnsAndLeavesTheConstraintNotValid) {
  ASSERT_TRUE(direct("dbname=app").exec("INSERT INTO orders VALUES (900002, 424242, 1)").ok);  // no such customer
  auto c = via_proxy("dbname=app");
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  ASSERT_TRUE(c.exec("BEGIN").ok);
  ASSERT_TRUE(c.exec(kAddFk).ok);
  const auto commit = c.exec("COMMIT");
  EXPECT_TRUE(commit.ok) << commit.message;  // it did commit
  EXPECT_TRUE(any_contains(notices, "WARNING: schemagate: the transaction committed, but the ALTER TABLE"))
      << joined(notices);
  EXPECT_TRUE(any_contains(notices, "23503")) << joined(notices);
  auto app = direct("dbname=app");
  EXPECT_EQ(validated(app, "orders_customer_fk"), "false");
  // Still enforced for new rows.
  EXPECT_EQ(app.exec("INSERT INTO orders VALUES (900003, 434343, 1)").sqlstate, "23503");
  EXPECT_NE(journal_list().find("\"failed\""), std::string::npos);
  EXPECT_EQ(c.scalar("SELECT 'usable'"), "usable");
}

TEST_F(AfterCommit, ACommitTheProxyDoesNotWaitOnLeavesTheValidateToMigrationsResume) {
  auto c = via_proxy("dbname=app");
  ASSERT_TRUE(c.exec("BEGIN").ok);
  ASSERT_TRUE(c.exec(kAddFk).ok);
  ASSERT_TRUE(c.exec("COMMIT; SELECT 1").ok);  // COMMIT with more in the same message
  auto app = direct("dbname=app");
  EXPECT_EQ(validated(app, "orders_customer_fk"), "false");
  const auto listed = journal_list();
  ASSERT_NE(listed.find("\"interrupted\""), std::string::npos) << listed;
  const auto key = listed.find("\"id\"");
  ASSERT_NE(key, std::string::npos) << listed;
  const std::string id = listed.substr(listed.find('"', listed.find(':', key)) + 1, 16);
  EXPECT_NE(proxy_->log().find("schemagate migrations resume " + id), std::string::npos) << proxy_->log();
  const auto resumed = run_command({proxy_binary(), "migrations", "resume", id, "--state", proxy_->dir() + "/state.db",
                                    "--dsn", pg_->conninfo("dbname=app")});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("phase 2/2 done"), std::string::npos) << resumed.output;
  EXPECT_EQ(validated(app, "orders_customer_fk"), "true");
}

TEST_F(AfterCommit, AClientThatDisconnectsBeforeCommitLeavesNothing) {
  {
    auto c = via_proxy("dbname=app");
    ASSERT_TRUE(c.exec("BEGIN").ok);
    ASSERT_TRUE(c.exec(kAddFk).ok);
  }
  EXPECT_TRUE(eventually([&] { return journal_list().find("\"failed\"") != std::string::npos; }, 30s)) << journal_list();
  EXPECT_EQ(validated(direct("dbname=app"), "orders_customer_fk"), "absent");
  EXPECT_NE(journal_list().find("the client disconnected before COMMIT"), std::string::npos) << journal_list();
}

}  // namespace
}  // namespace schemagate::testing
