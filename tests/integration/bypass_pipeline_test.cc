// An extended-protocol pipeline that ends a request with Flush instead of Sync keeps an implicit
// transaction open on the server, with every lock its statements took. The proxy must judge
// what follows without disturbing it: a simple Query of its own (a catalog facts query, the
// current role) would commit that transaction half-way — and free the lock the rules ask about —
// and one sent after an error in the pipeline is skipped by the server until the client's Sync,
// so the session would wait for ever. The same pipelines sent directly show what is at stake.
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

// 20 000 rows, analysed: above the built-in small_table_rows (10 000), so the table counts as large.
const char* kSchema = R"(
CREATE TABLE big (id bigint PRIMARY KEY, v int);
INSERT INTO big SELECT g, g FROM generate_series(1, 20000) g;
ANALYZE big;
)";

struct Outcome {
  std::vector<std::string> results;  // one per query: its status, or "ERROR <sqlstate>"
  bool finished = false;             // the Sync's result arrived in time
};

/// Sends `before` (each ended by a Flush, results read at once), then `after` and a Sync, in
/// libpq's pipeline mode; returns every result until the Sync's.
Outcome run_pipeline(PGconn* c, const std::vector<std::string>& before, const std::vector<std::string>& after) {
  Outcome out;
  if (!PQenterPipelineMode(c)) return out;
  const auto collect = [&](int results) {
    for (int i = 0; i < results; ++i) {
      if (!wait_not_busy(c, 20s)) return false;
      PGresult* r = PQgetResult(c);
      if (!r) return false;
      const auto st = PQresultStatus(r);
      const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      out.results.push_back(st == PGRES_FATAL_ERROR ? std::string("ERROR ") + (state ? state : "")
                                                    : std::string(PQresStatus(st)));
      PQclear(r);
      if (st == PGRES_PIPELINE_SYNC) return true;
      if (!wait_not_busy(c, 20s)) return false;
      PGresult* end = PQgetResult(c);  // NULL closes each query's results
      if (end) PQclear(end);
    }
    return true;
  };
  for (const auto& sql : before) {
    if (!PQsendQueryParams(c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) || !PQsendFlushRequest(c) ||
        PQflush(c) != 0 || !collect(1))
      return out;
  }
  for (const auto& sql : after)
    if (!PQsendQueryParams(c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)) return out;
  if (!PQpipelineSync(c) || !collect(static_cast<int>(after.size()) + 1)) return out;
  out.finished = !out.results.empty() && out.results.back() == "PGRES_PIPELINE_SYNC";
  PQexitPipelineMode(c);
  return out;
}

class BypassPipeline : public ProxiedPg {
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
};

TEST_F(BypassPipeline, BackfillAfterAFlushedAlterIsRefusedAndTheAlterRolledBack) {
  auto client = via_proxy("dbname=app");
  ASSERT_TRUE(client.exec("SET lock_timeout = '5s'").ok);
  const auto out = run_pipeline(client.get(), {"ALTER TABLE big ADD COLUMN c int"}, {"UPDATE big SET c = 0"});
  ASSERT_TRUE(out.finished) << ::testing::PrintToString(out.results);
  ASSERT_EQ(out.results.size(), 3u) << ::testing::PrintToString(out.results);
  EXPECT_EQ(out.results[0], "PGRES_COMMAND_OK");
  EXPECT_EQ(out.results[1], "ERROR SG001");
  // An error ends the pipeline's transaction as the server's own error would: the ALTER is
  // rolled back, not committed by the proxy's queries, and its lock is gone.
  EXPECT_EQ(column_count(), "0");
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM pg_locks WHERE relation = 'big'::regclass"), "0");
  EXPECT_EQ(client.scalar("SELECT 'still usable'"), "still usable");

  // Directly, the whole-table UPDATE runs inside the ALTER's transaction, under its lock.
  auto d = direct("dbname=app");
  ASSERT_TRUE(d.exec("SET lock_timeout = '5s'").ok);
  const auto raw = run_pipeline(
      d.get(),
      {"ALTER TABLE big ADD COLUMN c int",
       "SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'big'::regclass AND mode = 'AccessExclusiveLock'"},
      {"UPDATE big SET c = 0"});
  ASSERT_TRUE(raw.finished) << ::testing::PrintToString(raw.results);
  EXPECT_EQ(raw.results[1], "PGRES_TUPLES_OK");
  EXPECT_EQ(raw.results[2], "PGRES_COMMAND_OK");
  EXPECT_EQ(d.scalar("SELECT count(*) FROM big WHERE c = 0"), "20000");
}

// A pipeline the server already failed skips every message until Sync, the proxy's own too.
TEST_F(BypassPipeline, SchemaChangeAfterAFailedFlushedStatementDoesNotHang) {
  auto client = via_proxy("dbname=app");
  ASSERT_TRUE(client.exec("SET lock_timeout = '5s'").ok);
  const auto out = run_pipeline(client.get(), {"SELECT 1 / 0"}, {"ALTER TABLE big ADD COLUMN c int"});
  ASSERT_TRUE(out.finished) << ::testing::PrintToString(out.results);
  EXPECT_EQ(out.results[0], "ERROR 22012");
  EXPECT_EQ(out.results[1], "PGRES_PIPELINE_ABORTED");
  EXPECT_EQ(column_count(), "0");
  EXPECT_EQ(client.scalar("SELECT 'still usable'"), "still usable");
  // A rewrite cannot run inside the pipeline's transaction either: refused, nothing left behind.
  const auto index = run_pipeline(client.get(), {"SELECT 1"}, {"CREATE INDEX big_v ON big (v)"});
  ASSERT_TRUE(index.finished) << ::testing::PrintToString(index.results);
  EXPECT_EQ(index.results[1], "ERROR SG005") << ::testing::PrintToString(index.results);
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM pg_class WHERE relname = 'big_v'"), "0");
  EXPECT_EQ(client.scalar("SELECT 'still usable'"), "still usable");
}

}  // namespace
}  // namespace schemagate::testing
