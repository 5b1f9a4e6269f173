// A multi-statement simple Query (psql -c "a; b", a driver's query("a; b")) is one implicit
// transaction. PostgreSQL refuses CONCURRENTLY in it, and a rewrite plan must never run in place
// of the whole message. Beside read-only queries the proxy splits the message: the queries run as
// written, in their place, their results relayed; the statement runs through its plan. Beside
// statements that write, a plan is refused and nothing of the message runs. On a real
// PostgreSQL 15, compared with the statements applied directly to a twin database.
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

const char* kPolicy =
    "mode: enforce\n"
    "thresholds:\n"
    "  small_table_rows: 1000\n"
    "  lock_timeout: 300ms\n"
    "rules:\n"
    "  require_lock_timeout: rewrite\n";  // a plain ADD COLUMN gets a one-phase guarded plan

const char* kSchema = R"(
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount int);
INSERT INTO orders SELECT g, 1 + g % 2000, g % 100 FROM generate_series(1, 20000) g;
ANALYZE;
)";

/// One result of a message: its status, command tag, first value or error SQLSTATE.
struct Reply {
  ExecStatusType status = PGRES_FATAL_ERROR;
  std::string tag, value, sqlstate;
};

/// Sends `sql` as one simple Query and reads every result the message produced, in order.
std::vector<Reply> send_message(PGconn* c, const std::string& sql) {
  std::vector<Reply> out;
  if (!PQsendQuery(c, sql.c_str())) {
    ADD_FAILURE() << PQerrorMessage(c);
    return out;
  }
  for (;;) {
    if (!wait_not_busy(c, 60s)) {
      ADD_FAILURE() << "no reply within 60 s to: " << sql;
      return out;
    }
    PGresult* r = PQgetResult(c);
    if (!r) return out;
    Reply x;
    x.status = PQresultStatus(r);
    x.tag = PQcmdStatus(r);
    if (x.status == PGRES_TUPLES_OK && PQntuples(r) > 0) x.value = PQgetvalue(r, 0, 0);
    if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) x.sqlstate = s;
    PQclear(r);
    out.push_back(std::move(x));
  }
}

std::string describe(const std::vector<Reply>& replies) {
  std::string s;
  for (const auto& r : replies)
    s += std::string(PQresStatus(r.status)) + " " + r.tag + " " + r.value + (r.sqlstate.empty() ? "" : " " + r.sqlstate) + "\n";
  return s;
}

void collect_notice(void* arg, const PGresult* res) {
  static_cast<std::vector<std::string>*>(arg)->push_back(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
}

class SplitMessage : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ASSERT_NO_FATAL_FAILURE(recreate_databases(kSchema));
    proxy_ = start_enforcing(policy_, kPolicy);
  }

  std::string journal_list() const {
    const auto r = run_command({proxy_binary(), "migrations", "list", "--format", "json", "--state",
                                proxy_->dir() + "/state.db"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  }

  static std::string index_state(const PgConn& c, const std::string& name) {
    return c.scalar("SELECT coalesce((SELECT CASE WHEN indisvalid THEN 'valid' ELSE 'INVALID' END FROM pg_index "
                    "WHERE indexrelid = to_regclass('" + name + "')), 'absent')");
  }

  TempDir policy_{"sg-policy"};
};

TEST_F(SplitMessage, QueriesBesideARewrittenIndexRunInOrderAndTheIndexIsBuiltWithoutBlockingWrites) {
  auto c = via_proxy("dbname=app");
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  const auto replies =
      send_message(c.get(), "SELECT count(*) FROM orders; CREATE INDEX orders_amount_idx ON orders (amount); SELECT 42");
  ASSERT_EQ(replies.size(), 3u) << describe(replies);
  EXPECT_EQ(replies[0].status, PGRES_TUPLES_OK);
  EXPECT_EQ(replies[0].value, "20000");
  EXPECT_EQ(replies[1].status, PGRES_COMMAND_OK);
  EXPECT_EQ(replies[1].tag, "CREATE INDEX");
  EXPECT_EQ(replies[2].value, "42");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
  bool concurrently = false;
  for (const auto& n : notices) concurrently = concurrently || n.find("CREATE INDEX CONCURRENTLY orders_amount_idx") != std::string::npos;
  EXPECT_TRUE(concurrently) << "the index was not built through its plan";
  EXPECT_EQ(index_state(direct("dbname=app"), "orders_amount_idx"), "valid");

  // psql -c with several statements sends them as one message, and prints every result.
  const auto r = run_command({std::string(SG_PG_BINDIR) + "/psql", "-X", "-v", "ON_ERROR_STOP=1", "-d",
                              proxy_->conninfo("dbname=app"), "-c",
                              "SELECT 'before' AS b; CREATE INDEX orders_customer_idx ON orders (customer_id); "
                              "SELECT 'after' AS a"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Only psql's stdout lines are ordered against each other: its NOTICEs (which quote the
  // queries) go to stderr unbuffered and may land anywhere in between. So match the result rows.
  const auto before = r.output.find("\n before\n"), tag = r.output.find("CREATE INDEX\n"),
             after = r.output.find("\n after\n");
  ASSERT_NE(before, std::string::npos) << r.output;
  ASSERT_NE(tag, std::string::npos) << r.output;
  EXPECT_LT(before, tag) << r.output;
  EXPECT_LT(tag, after) << r.output;
  EXPECT_NE(after, std::string::npos) << r.output;

  auto twin = direct("dbname=twin");
  ASSERT_TRUE(twin.exec("CREATE INDEX orders_amount_idx ON orders (amount)").ok);
  ASSERT_TRUE(twin.exec("CREATE INDEX orders_customer_idx ON orders (customer_id)").ok);
  EXPECT_EQ(schema_dump(*pg_, "app"), schema_dump(*pg_, "twin"));
  const auto journal = journal_list();
  EXPECT_EQ(journal.find("\"failed\""), std::string::npos) << journal;
  EXPECT_EQ(journal.find("\"running\""), std::string::npos) << journal;
}

TEST_F(SplitMessage, ConcurrentlyBesideQueriesFailsDirectlyAndRunsThroughTheProxy) {
  const std::string sql = "SELECT 1; CREATE INDEX CONCURRENTLY orders_id_amount_idx ON orders (id, amount); SELECT 2";
  // Directly, PostgreSQL refuses it: the message is one transaction block.
  auto twin = direct("dbname=twin");
  const auto refused = send_message(twin.get(), sql);
  ASSERT_FALSE(refused.empty());
  EXPECT_EQ(refused.back().sqlstate, "25001") << describe(refused);
  EXPECT_EQ(index_state(twin, "orders_id_amount_idx"), "absent");

  auto c = via_proxy("dbname=app");
  const auto replies = send_message(c.get(), sql);
  ASSERT_EQ(replies.size(), 3u) << describe(replies);
  EXPECT_EQ(replies[0].value, "1");
  EXPECT_EQ(replies[1].tag, "CREATE INDEX");
  EXPECT_EQ(replies[2].value, "2");
  EXPECT_EQ(index_state(direct("dbname=app"), "orders_id_amount_idx"), "valid");
}

// A plan that needs no transaction of its own (the statement under lock_timeout) used to run in
// place of the whole message: the INSERT beside it never ran, and the client was told nothing.
TEST_F(SplitMessage, APlanBesideAStatementThatWritesIsRefusedAndNothingOfTheMessageRuns) {
  const std::string sql = "INSERT INTO orders VALUES (30001, 1, 1); ALTER TABLE orders ADD COLUMN note text";
  auto c = via_proxy("dbname=app");
  const auto replies = send_message(c.get(), sql);
  ASSERT_EQ(replies.size(), 1u) << describe(replies);
  EXPECT_EQ(replies[0].sqlstate, "SG001");
  auto app = direct("dbname=app");
  EXPECT_EQ(app.scalar("SELECT count(*) FROM orders WHERE id = 30001"), "0");
  EXPECT_EQ(app.scalar("SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"), "0");
  EXPECT_EQ(c.scalar("SELECT 'usable'"), "usable");
  // Directly, the message runs both statements: that is what must not silently shrink.
  auto twin = direct("dbname=twin");
  const auto direct_replies = send_message(twin.get(), sql);
  ASSERT_EQ(direct_replies.size(), 2u) << describe(direct_replies);
  EXPECT_EQ(twin.scalar("SELECT count(*) FROM orders WHERE id = 30001"), "1");

  // Beside queries only, the same statement runs through its plan between them.
  const auto split = send_message(c.get(), "SELECT 1; ALTER TABLE orders ADD COLUMN note text; SELECT 2");
  ASSERT_EQ(split.size(), 3u) << describe(split);
  EXPECT_EQ(split[1].tag, "ALTER TABLE");
  EXPECT_EQ(split[2].value, "2");
  EXPECT_EQ(app.scalar("SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"), "1");
}

TEST_F(SplitMessage, AFailingQueryEndsTheMessageWhereItWouldDirectly) {
  auto c = via_proxy("dbname=app");
  auto app = direct("dbname=app");
  // Before the statement: nothing is built, as directly (the implicit transaction rolls back).
  const auto first = send_message(c.get(), "SELECT 1/0; CREATE INDEX orders_a_idx ON orders (amount, id)");
  ASSERT_EQ(first.size(), 1u) << describe(first);
  EXPECT_EQ(first[0].sqlstate, "22012");
  EXPECT_EQ(index_state(app, "orders_a_idx"), "absent");
  // After it: the index stays built (CONCURRENTLY commits on its own), the rest of the message
  // does not run, and the journal says the statement succeeded.
  const auto second = send_message(c.get(), "CREATE INDEX orders_b_idx ON orders (customer_id, id); SELECT 1/0; SELECT 3");
  ASSERT_EQ(second.size(), 2u) << describe(second);
  EXPECT_EQ(second[0].tag, "CREATE INDEX");
  EXPECT_EQ(second[1].sqlstate, "22012");
  EXPECT_EQ(index_state(app, "orders_b_idx"), "valid");
  EXPECT_EQ(c.scalar("SELECT 'usable'"), "usable");
  const auto journal = journal_list();
  EXPECT_NE(journal.find("\"succeeded\""), std::string::npos) << journal;
  EXPECT_EQ(journal.find("\"running\""), std::string::npos) << journal;
}

TEST_F(SplitMessage, TheClientsQueriesSeeItsOwnSettingsNotThePlans) {
  auto c = via_proxy("dbname=app");
  ASSERT_TRUE(c.exec("SET lock_timeout = '1234ms'").ok);
  const auto replies = send_message(c.get(), "SHOW lock_timeout; CREATE INDEX orders_c_idx ON orders (amount, customer_id); "
                                             "SHOW lock_timeout; SHOW statement_timeout");
  ASSERT_EQ(replies.size(), 4u) << describe(replies);
  EXPECT_EQ(replies[0].value, "1234ms");
  EXPECT_EQ(replies[2].value, "1234ms");  // the plan built the index under its own 300ms, then put it back
  EXPECT_EQ(replies[3].value, "0");
  EXPECT_EQ(c.scalar("SHOW lock_timeout"), "1234ms");
}

}  // namespace
}  // namespace schemagate::testing
