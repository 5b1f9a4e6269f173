// The statement policy as a client sees it through the proxy, against a real PostgreSQL 15:
// each outcome (pass, warn, rewrite, hold, reject), SQLSTATEs of class SG, session state the
// policy reads (transaction status, lock_timeout), observe mode, and DDL lookalikes.
#include <gtest/gtest.h>

#include "policy/engine.h"
#include "proxy/policy_interceptor.h"
#include "tests/proxy/in_process_proxy.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/pq.h"

namespace schemagate::proxy {
namespace {

using schemagate::testing::PgCluster;
using schemagate::testing::pq_connect_ok;

std::shared_ptr<const Interceptor> policy_from(const std::string& yaml) {
  auto loaded = policy::load_policy_text(yaml);
  EXPECT_TRUE(loaded.ok()) << loaded.error_text("policy");
  return std::make_shared<PolicyInterceptor>(std::make_shared<const policy::PolicyEngine>(std::move(loaded.policy)));
}

/// Collects the NOTICE/WARNING texts a connection receives.
void collect_notices(void* arg, const PGresult* res) {
  static_cast<std::vector<std::string>*>(arg)->emplace_back(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
}

class PolicySession : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = PgCluster::start();
    enforce_ = std::make_unique<testing::InProcessProxy>(pg_->port(), policy_from(R"(
mode: enforce
rules:
  drop_table: reject
  drop_column: hold
  require_concurrent_index: rewrite
  require_lock_timeout: warn
)"));
    observe_ = std::make_unique<testing::InProcessProxy>(pg_->port(), policy_from("mode: observe\nrules:\n  drop_table: reject\n"));
    ASSERT_TRUE(enforce_->ok() && observe_->ok());
    direct_ = pq_connect_ok(pg_->conninfo());
  }
  static void TearDownTestSuite() {
    direct_.reset();
    enforce_.reset();
    observe_.reset();
    pg_.reset();
  }
  void SetUp() override {
    ASSERT_TRUE(direct_.exec("DROP TABLE IF EXISTS orders; CREATE TABLE orders(id int PRIMARY KEY, note text)").ok);
  }
  static bool exists(const std::string& regclass) {
    return direct_.scalar("SELECT to_regclass('" + regclass + "') IS NOT NULL") == "t";
  }

  static inline std::unique_ptr<PgCluster> pg_;
  static inline std::unique_ptr<testing::InProcessProxy> enforce_, observe_;
  static inline schemagate::testing::PgConn direct_;
};

TEST_F(PolicySession, RejectedDdlNeverReachesTheServer) {
  auto c = pq_connect_ok(enforce_->conninfo());
  const auto r = c.exec("DROP TABLE orders");
  EXPECT_EQ(r.sqlstate, "SG001");
  EXPECT_NE(r.message.find("drop_table"), std::string::npos) << r.message;
  EXPECT_TRUE(exists("orders"));
  EXPECT_EQ(c.scalar("SELECT count(*) FROM orders"), "0");  // the session is still usable
}

TEST_F(PolicySession, RewriteRunsThePlanAndAnswersWithTheOriginalTag) {
  // Large enough (by the live statistics) that the plain form is not allowed.
  ASSERT_TRUE(direct_.exec("INSERT INTO orders SELECT g, 'n' FROM generate_series(1, 30000) g; ANALYZE orders").ok);
  auto c = pq_connect_ok(enforce_->conninfo());
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notices, &notices);
  const auto r = c.exec("CREATE INDEX orders_note_idx ON orders (note)");
  ASSERT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_EQ(r.command_status, "CREATE INDEX");
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_EQ(notices[0], "schemagate: CREATE INDEX rewritten by rule require_concurrent_index (1 phase)");
  EXPECT_NE(notices[1].find("phase 1/1 done in"), std::string::npos) << notices[1];
  EXPECT_NE(notices[1].find("CREATE INDEX CONCURRENTLY orders_note_idx ON orders"), std::string::npos) << notices[1];
  EXPECT_EQ(direct_.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_note_idx'::regclass"), "t");
  // The session is as it was: its own settings restored, usable, idle.
  EXPECT_EQ(c.scalar("SHOW lock_timeout"), "0");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
  EXPECT_EQ(c.scalar("SELECT count(*) FROM orders"), "30000");
}

TEST_F(PolicySession, HeldStatementIsNotRunWithoutApproval) {
  auto c = pq_connect_ok(enforce_->conninfo());
  const auto r = c.exec("ALTER TABLE orders DROP COLUMN note");
  EXPECT_EQ(r.sqlstate, "SG003");
  EXPECT_EQ(direct_.scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders'"), "2");
}

TEST_F(PolicySession, ConcurrentlyInsideATransactionGetsSG005AndAbortsTheBlock) {
  auto c = pq_connect_ok(enforce_->conninfo());
  ASSERT_TRUE(c.exec("BEGIN").ok);
  EXPECT_EQ(c.exec("CREATE INDEX CONCURRENTLY orders_id2 ON orders (id)").sqlstate, "SG005");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INERROR);
  EXPECT_TRUE(c.exec("ROLLBACK").ok);
}

TEST_F(PolicySession, WarningArrivesAsNoticeAndTheStatementRuns) {
  auto c = pq_connect_ok(enforce_->conninfo());
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notices, &notices);
  ASSERT_TRUE(c.exec("ALTER TABLE orders ADD COLUMN a int").ok);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("require_lock_timeout"), std::string::npos) << notices[0];
  // Once the session sets lock_timeout, the same kind of statement is not flagged.
  notices.clear();
  ASSERT_TRUE(c.exec("SET lock_timeout = '2s'").ok);
  ASSERT_TRUE(c.exec("ALTER TABLE orders ADD COLUMN b int").ok);
  EXPECT_TRUE(notices.empty()) << notices[0];
}

TEST_F(PolicySession, LookalikesAreOrdinaryQueries) {
  auto c = pq_connect_ok(enforce_->conninfo());
  EXPECT_EQ(c.scalar("SELECT 'DROP TABLE orders' /* DROP TABLE orders */"), "DROP TABLE orders");
  EXPECT_EQ(c.scalar("SELECT $$DROP TABLE orders$$"), "DROP TABLE orders");
  EXPECT_TRUE(exists("orders"));
}

// Size-aware rules judge the real table: the proxy reads its size through the client's own
// connection. A small table may use the plain, locking CREATE INDEX; a large one may not.
TEST_F(PolicySession, LiveTableSizeDecidesBetweenPlainAndRewrite) {
  ASSERT_TRUE(direct_.exec("DROP TABLE IF EXISTS tiny, huge").ok);
  ASSERT_TRUE(direct_.exec("CREATE TABLE tiny AS SELECT g AS a FROM generate_series(1, 50) g").ok);
  ASSERT_TRUE(direct_.exec("CREATE TABLE huge AS SELECT g AS a FROM generate_series(1, 30000) g").ok);
  ASSERT_TRUE(direct_.exec("ANALYZE tiny; ANALYZE huge").ok);
  auto c = pq_connect_ok(enforce_->conninfo());
  const auto small = c.exec("CREATE INDEX tiny_a ON tiny (a)");
  EXPECT_TRUE(small.ok) << small.sqlstate << " " << small.message;
  EXPECT_TRUE(exists("tiny_a"));
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notices, &notices);
  const auto large = c.exec("CREATE INDEX huge_a ON huge (a)");  // rewritten: built concurrently
  EXPECT_TRUE(large.ok) << large.message;
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices[0].find("rewritten by rule require_concurrent_index"), std::string::npos) << notices[0];
  EXPECT_TRUE(exists("huge_a"));
  notices.clear();
  // The catalog query is invisible to the client and leaves its transaction intact.
  ASSERT_TRUE(c.exec("BEGIN").ok);
  ASSERT_TRUE(c.exec("INSERT INTO tiny VALUES (51)").ok);
  EXPECT_TRUE(c.exec("CREATE INDEX tiny_a2 ON tiny (a)").ok);
  for (const auto& n : notices) EXPECT_EQ(n.find("rewritten"), std::string::npos) << n;  // small: passed as written
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INTRANS);
  ASSERT_TRUE(c.exec("COMMIT").ok);
  EXPECT_EQ(direct_.scalar("SELECT count(*) FROM tiny"), "51");
  // Names resolve under the client's search_path, as the statement will.
  ASSERT_TRUE(direct_.exec("CREATE SCHEMA IF NOT EXISTS other; DROP TABLE IF EXISTS other.huge; "
                           "CREATE TABLE other.huge AS SELECT 1 AS a; ANALYZE other.huge").ok);
  ASSERT_TRUE(c.exec("SET search_path = other, public").ok);
  EXPECT_TRUE(c.exec("CREATE INDEX other_huge_a ON huge (a)").ok);  // other.huge: one row
}

// The current column type comes from the live catalog: widening a varchar is metadata-only and
// passes; a real type change of a large table is stopped.
TEST_F(PolicySession, LiveColumnTypeSeparatesWideningFromRewrites) {
  ASSERT_TRUE(direct_.exec("DROP TABLE IF EXISTS accounts").ok);
  ASSERT_TRUE(direct_.exec("CREATE TABLE accounts AS SELECT g AS id, (g % 1000)::text::varchar(20) AS code "
                           "FROM generate_series(1, 30000) g; ANALYZE accounts")
                  .ok);
  auto c = pq_connect_ok(enforce_->conninfo());
  const auto widen = c.exec("ALTER TABLE accounts ALTER COLUMN code TYPE varchar(50)");
  EXPECT_TRUE(widen.ok) << widen.sqlstate << " " << widen.message;
  EXPECT_EQ(direct_.scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = 'accounts'::regclass AND attname = 'code'"),
            "character varying(50)");
  const auto retype = c.exec("ALTER TABLE accounts ALTER COLUMN code TYPE bigint USING code::bigint");
  EXPECT_FALSE(retype.ok);
  EXPECT_EQ(retype.sqlstate.substr(0, 2), "SG") << retype.message;
}

TEST_F(PolicySession, ObserveModeForwardsWhatEnforceWouldStop) {
  auto c = pq_connect_ok(observe_->conninfo());
  EXPECT_TRUE(c.exec("DROP TABLE orders").ok);
  EXPECT_FALSE(exists("orders"));
}

}  // namespace
}  // namespace schemagate::proxy
