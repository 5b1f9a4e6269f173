// DDL prepared with Parse and executed by a later message (pgx's statement cache, pgjdbc past
// prepareThreshold, PQprepare + PQexecPrepared): the proxy answers the Parse itself and judges
// the statement when it is executed, so a rewritten CREATE INDEX still runs as its plan and
// never as written; a statement that passes by then is prepared on the server and runs as sent.
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

void collect_notice(void* arg, const PGresult* res) {
  static_cast<std::vector<std::string>*>(arg)->emplace_back(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
}

bool any_contains(const std::vector<std::string>& v, const std::string& text) {
  for (const auto& s : v)
    if (s.find(text) != std::string::npos) return true;
  return false;
}

class PreparedDdl : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    auto admin = direct();
    ASSERT_TRUE(admin.exec("DROP TABLE IF EXISTS orders; "
                           "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, note text); "
                           "INSERT INTO orders SELECT g, g % 500, 'n' || g FROM generate_series(1, 20000) g; "
                           "ANALYZE orders")
                    .ok);
    write_file(dir_.file("policy.yaml"),
               "mode: enforce\n"
               "thresholds:\n"
               "  small_table_rows: 1000\n"
               "  lock_timeout: 1s\n");
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "enforce";
    o.extra_args = {"--policy", dir_.file("policy.yaml")};
    proxy_ = ProxyProcess::start(o);
  }

  static std::string valid_indexes() {
    return direct().scalar(
        "SELECT string_agg(c.relname || ':' || i.indisvalid, ',' ORDER BY c.relname) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'orders'::regclass AND NOT i.indisprimary");
  }
  /// Statements prepared on the server connection behind `c` (asked through the proxy).
  static std::string server_prepared(const PgConn& c) {
    return c.scalar("SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM pg_prepared_statements");
  }

  TempDir dir_{"sg-prepared"};
};

TEST_F(PreparedDdl, ANamedCreateIndexExecutedLaterRunsAsItsConcurrentPlan) {
  auto c = via_proxy();
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);

  // Parse + Sync: answered by the proxy; nothing runs, nothing reaches the server.
  PGresult* p = PQprepare(c.get(), "mk_idx", "CREATE INDEX ON orders (customer_id)", 0, nullptr);
  ASSERT_EQ(PQresultStatus(p), PGRES_COMMAND_OK) << PQresultErrorMessage(p);
  PQclear(p);
  EXPECT_EQ(valid_indexes(), "");
  EXPECT_EQ(server_prepared(c), "");

  // Describe of the statement: no parameters, no rows, as the server would say.
  PGresult* d = PQdescribePrepared(c.get(), "mk_idx");
  ASSERT_EQ(PQresultStatus(d), PGRES_COMMAND_OK) << PQresultErrorMessage(d);
  EXPECT_EQ(PQnparams(d), 0);
  EXPECT_EQ(PQnfields(d), 0);
  PQclear(d);

  // Bind/Describe/Execute/Sync: judged now, run as CREATE INDEX CONCURRENTLY.
  const auto r = QueryResult::from(PQexecPrepared(c.get(), "mk_idx", 0, nullptr, nullptr, nullptr, 0), c.get());
  ASSERT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_EQ(r.command_status, "CREATE INDEX");
  EXPECT_TRUE(any_contains(notices, " rewritten by rule require_concurrent_index")) << ::testing::PrintToString(notices);
  EXPECT_EQ(valid_indexes(), "orders_customer_id_idx:true");
  EXPECT_EQ(server_prepared(c), "");  // the server never had it
  EXPECT_EQ(c.scalar("SELECT 'still usable'"), "still usable");

  // Executed again: judged again, and run through its plan again.
  notices.clear();
  const auto again = QueryResult::from(PQexecPrepared(c.get(), "mk_idx", 0, nullptr, nullptr, nullptr, 0), c.get());
  ASSERT_TRUE(again.ok) << again.message;
  EXPECT_TRUE(any_contains(notices, " rewritten by rule ")) << ::testing::PrintToString(notices);
  EXPECT_EQ(valid_indexes(), "orders_customer_id_idx:true,orders_customer_id_idx1:true");

  // A new Parse of the same name replaces it, as on the server: the proxy forgets its copy and
  // the server gets the new statement.
  PGresult* p2 = PQprepare(c.get(), "mk_idx", "SELECT 1", 0, nullptr);
  ASSERT_EQ(PQresultStatus(p2), PGRES_COMMAND_OK) << PQresultErrorMessage(p2);
  PQclear(p2);
  EXPECT_EQ(server_prepared(c), "mk_idx");
  EXPECT_EQ(QueryResult::from(PQexecPrepared(c.get(), "mk_idx", 0, nullptr, nullptr, nullptr, 0), c.get()).value(), "1");
}

TEST_F(PreparedDdl, WithoutTheProxyTheSamePreparedStatementBuildsAPlainLockingIndex) {
  // The control: straight to PostgreSQL the Parse is kept by the server and the later Execute
  // runs the blocking form (no CONCURRENTLY, no notice) — what the proxy must not let through.
  auto c = direct();
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  PGresult* p = PQprepare(c.get(), "mk_idx", "CREATE INDEX ON orders (customer_id)", 0, nullptr);
  ASSERT_EQ(PQresultStatus(p), PGRES_COMMAND_OK);
  PQclear(p);
  EXPECT_EQ(server_prepared(c), "mk_idx");
  const auto r = QueryResult::from(PQexecPrepared(c.get(), "mk_idx", 0, nullptr, nullptr, nullptr, 0), c.get());
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(notices.empty());
}

TEST_F(PreparedDdl, PipelinedParseBindExecuteOfANamedStatementRunsThePlanAndStaysExecutable) {
  // pgjdbc's shape once a statement is named: Parse S + Bind S + Describe + Execute + Sync in one go.
  auto c = via_proxy();
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  ASSERT_EQ(PQenterPipelineMode(c.get()), 1);
  ASSERT_EQ(PQsendPrepare(c.get(), "S_1", "CREATE INDEX ON orders (note)", 0, nullptr), 1);
  ASSERT_EQ(PQsendQueryPrepared(c.get(), "S_1", 0, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(c.get()), 1);
  std::vector<ExecStatusType> statuses;
  for (int guard = 0; guard < 20; ++guard) {
    ASSERT_TRUE(wait_not_busy(c.get(), 60s));
    PGresult* res = PQgetResult(c.get());
    if (res == nullptr) continue;
    statuses.push_back(PQresultStatus(res));
    if (PQresultStatus(res) == PGRES_FATAL_ERROR) ADD_FAILURE() << PQresultErrorMessage(res);
    const bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
    PQclear(res);
    if (sync) break;
  }
  ASSERT_EQ(statuses, (std::vector<ExecStatusType>{PGRES_COMMAND_OK, PGRES_COMMAND_OK, PGRES_PIPELINE_SYNC}));
  EXPECT_EQ(PQexitPipelineMode(c.get()), 1);
  EXPECT_TRUE(any_contains(notices, " rewritten by rule ")) << ::testing::PrintToString(notices);
  EXPECT_EQ(valid_indexes(), "orders_note_idx:true");
  EXPECT_EQ(server_prepared(c), "");
  // S_1 stays executable by name, as it would on the server.
  const auto r = QueryResult::from(PQexecPrepared(c.get(), "S_1", 0, nullptr, nullptr, nullptr, 0), c.get());
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(valid_indexes(), "orders_note_idx:true,orders_note_idx1:true");
}

TEST_F(PreparedDdl, AStatementThatPassesWhenExecutedIsPreparedOnTheServerAndRunsAsWritten) {
  auto c = via_proxy();
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  PGresult* p = PQprepare(c.get(), "mk_idx", "CREATE INDEX ON orders (customer_id)", 0, nullptr);
  ASSERT_EQ(PQresultStatus(p), PGRES_COMMAND_OK);
  PQclear(p);
  // By the time it runs the table is small: the policy lets the plain form through.
  ASSERT_TRUE(direct().exec("TRUNCATE orders; ANALYZE orders").ok);
  const auto r = QueryResult::from(PQexecPrepared(c.get(), "mk_idx", 0, nullptr, nullptr, nullptr, 0), c.get());
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_FALSE(any_contains(notices, " rewritten by rule ")) << ::testing::PrintToString(notices);
  EXPECT_EQ(valid_indexes(), "orders_customer_id_idx:true");
  EXPECT_EQ(server_prepared(c), "mk_idx");  // prepared on the server first, then executed as sent
}

TEST_F(PreparedDdl, ARejectedStatementIsRefusedWhenExecutedAndTheSessionGoesOn) {
  auto c = via_proxy();
  PGresult* p = PQprepare(c.get(), "mk_idx", "CREATE INDEX ON orders (customer_id)", 0, nullptr);
  ASSERT_EQ(PQresultStatus(p), PGRES_COMMAND_OK);
  PQclear(p);
  // Inside a transaction block the CONCURRENTLY plan cannot run: SG005 at Execute.
  ASSERT_TRUE(c.exec("BEGIN").ok);
  const auto r = QueryResult::from(PQexecPrepared(c.get(), "mk_idx", 0, nullptr, nullptr, nullptr, 0), c.get());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.sqlstate, "SG005") << r.message;
  EXPECT_TRUE(c.exec("ROLLBACK").ok);
  EXPECT_EQ(valid_indexes(), "");
  EXPECT_EQ(c.scalar("SELECT 'still usable'"), "still usable");
}

}  // namespace
}  // namespace schemagate::testing
