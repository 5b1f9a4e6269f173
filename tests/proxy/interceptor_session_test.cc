// The interceptor seam, exercised with fake decisions through a real PostgreSQL 15: when the
// proxy answers a request itself, the client must get the error and stay in sync — simple
// protocol, extended protocol, pipelines, Flush-terminated requests and transaction blocks.
#include <gtest/gtest.h>

#include <string_view>
#include <thread>

#include "protocol/frontend.h"
#include "tests/proxy/in_process_proxy.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/pq.h"
#include "tests/support/raw_client.h"

namespace schemagate::proxy {
namespace {

using schemagate::testing::PgCluster;
using schemagate::testing::pq_connect_ok;
using schemagate::testing::RawClient;
namespace wire = schemagate::testing::wire;

/// Refuses every request whose SQL mentions "forbidden"; forwards everything else.
class RefuseForbidden final : public Interceptor {
 public:
  Verdict on_request(const RequestView& request, const SessionState& session,
                     const policy::CatalogFacts*, Judged& judged) const override {
    judged = {};
    for (std::size_t i = 0; i < request.frame_count(); ++i) {
      const std::string_view sql = protocol::statement_sql(request.frame(i));
      if (sql.find("forbidden") != std::string_view::npos)
        return respond_error("SG001", "statement refused for " + session.user, "test detail", "test hint");
    }
    return Forward{};
  }
};

class InterceptorSession : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = PgCluster::start();
    proxy_ = std::make_unique<testing::InProcessProxy>(pg_->port(), std::make_shared<RefuseForbidden>());
    ASSERT_TRUE(proxy_->ok()) << proxy_->error();
  }
  static void TearDownTestSuite() {
    proxy_.reset();
    pg_.reset();
  }
  static std::string conninfo() { return proxy_->conninfo(); }

  static inline std::unique_ptr<PgCluster> pg_;
  static inline std::unique_ptr<testing::InProcessProxy> proxy_;
};

TEST_F(InterceptorSession, RefusedSimpleQueryLeavesTheSessionUsable) {
  auto c = pq_connect_ok(conninfo());
  const auto r = c.exec("SELECT 'forbidden'");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.sqlstate, "SG001");
  EXPECT_EQ(r.message, "statement refused for postgres");
  EXPECT_EQ(c.scalar("SELECT 40 + 2"), "42");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
}

TEST_F(InterceptorSession, RefusedExtendedQueryLeavesTheSessionUsable) {
  auto c = pq_connect_ok(conninfo());
  const auto r = c.exec_params("SELECT $1::text || 'forbidden'", {std::string("x")});
  EXPECT_EQ(r.sqlstate, "SG001");
  const auto ok = c.exec_params("SELECT $1::int + 1", {std::string("41")});
  ASSERT_TRUE(ok.ok) << ok.message;
  EXPECT_EQ(ok.value(), "42");
}

// Replies must come in request order even when the refused request is pipelined behind
// requests the server is still answering.
TEST_F(InterceptorSession, PipelineKeepsOrderAroundARefusal) {
  auto c = pq_connect_ok(conninfo());
  PGconn* conn = c.get();
  ASSERT_EQ(PQenterPipelineMode(conn), 1);
  ASSERT_EQ(PQsendQueryParams(conn, "SELECT pg_sleep(0.2)::text || 'first'", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(conn), 1);
  ASSERT_EQ(PQsendQueryParams(conn, "SELECT 'forbidden'", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(conn), 1);
  ASSERT_EQ(PQsendQueryParams(conn, "SELECT 'third'", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(conn), 1);

  std::vector<std::string> seen;  // one entry per result: value, sqlstate, or SYNC
  while (seen.size() < 6) {
    PGresult* res = PQgetResult(conn);
    if (res == nullptr) continue;  // end of one query's results
    switch (PQresultStatus(res)) {
      case PGRES_TUPLES_OK: seen.emplace_back(PQgetvalue(res, 0, 0)); break;
      case PGRES_PIPELINE_SYNC: seen.emplace_back("SYNC"); break;
      case PGRES_FATAL_ERROR: seen.emplace_back(PQresultErrorField(res, PG_DIAG_SQLSTATE)); break;
      default: seen.emplace_back(PQresStatus(PQresultStatus(res)));
    }
    PQclear(res);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"first", "SYNC", "SG001", "SYNC", "third", "SYNC"}));
  ASSERT_EQ(PQexitPipelineMode(conn), 1);
  EXPECT_EQ(c.scalar("SELECT 'after'"), "after");
}

// A refusal inside a transaction block must abort the block on the server too: otherwise a
// later COMMIT would commit what ran before the refused statement.
TEST_F(InterceptorSession, RefusalInsideATransactionAbortsIt) {
  auto c = pq_connect_ok(conninfo());
  ASSERT_TRUE(c.exec("CREATE TABLE IF NOT EXISTS tx_probe(a int)").ok);
  ASSERT_TRUE(c.exec("TRUNCATE tx_probe").ok);
  ASSERT_TRUE(c.exec("BEGIN").ok);
  ASSERT_TRUE(c.exec("INSERT INTO tx_probe VALUES (1)").ok);
  EXPECT_EQ(c.exec("SELECT 'forbidden'").sqlstate, "SG001");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INERROR);
  EXPECT_EQ(c.exec("SELECT 1").sqlstate, "25P02");  // the server agrees the block is aborted
  const auto commit = c.exec("COMMIT");
  EXPECT_EQ(commit.command_status, "ROLLBACK");
  EXPECT_EQ(c.scalar("SELECT count(*) FROM tx_probe"), "0");
}

// After a Flush-terminated request is refused, the rest of that request (up to Sync) is
// skipped, and the Sync gets the ReadyForQuery.
TEST_F(InterceptorSession, FlushTerminatedRefusalSkipsToSync) {
  auto c = RawClient::connect(proxy_->port());
  c.startup();
  c.send(wire::message('P', std::string("\0SELECT 'forbidden'\0\0\0", 22)) + wire::message('H', ""));
  const auto err = c.read();
  ASSERT_TRUE(err);
  EXPECT_EQ(err->tag, 'E');
  EXPECT_EQ(err->field('C'), "SG001");
  // Bind + Execute of the refused statement, then Sync: only ReadyForQuery comes back.
  c.send(wire::message('B', std::string("\0\0\0\0\0\0\0\0", 8)) + wire::message('E', std::string("\0\0\0\0\0", 5)) +
         wire::message('S', ""));
  const auto rest = c.read_until_ready();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].tag, 'Z');
  EXPECT_EQ(rest[0].body, "I");
  const auto ok = c.simple_query("SELECT 'still in sync'");
  EXPECT_FALSE(schemagate::testing::first_error(ok));
  EXPECT_TRUE(schemagate::testing::find_message(ok, 'D'));
}

TEST_F(InterceptorSession, MultiStatementQueryIsJudgedWhole) {
  auto c = pq_connect_ok(conninfo());
  ASSERT_TRUE(c.exec("CREATE TABLE IF NOT EXISTS multi_probe(a int)").ok);
  ASSERT_TRUE(c.exec("TRUNCATE multi_probe").ok);
  EXPECT_EQ(c.exec("INSERT INTO multi_probe VALUES (1); SELECT 'forbidden'").sqlstate, "SG001");
  EXPECT_EQ(c.scalar("SELECT count(*) FROM multi_probe"), "0");  // nothing of it ran
}

}  // namespace
}  // namespace schemagate::proxy
