#pragma once
// Shared by the integration tests: one PostgreSQL 15 cluster per test suite, a fresh proxy
// per test, and small waiting helpers. Everything is torn down by destructors, also on failure.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/certs.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/pq.h"
#include "tests/support/process.h"
#include "tests/support/proxy_process.h"
#include "tests/support/raw_client.h"

namespace schemagate::testing {

using namespace std::chrono_literals;

/// Test suites derive from this: the cluster lives for the suite, the proxy for one test.
/// Override cluster_options() / proxy_yaml() by hiding the static/virtual functions.
class ProxiedPg : public ::testing::Test {
 protected:
  static void StartCluster(PgClusterOptions options = {}) { pg_ = PgCluster::start(std::move(options)); }
  static void SetUpTestSuite() { StartCluster(); }
  static void TearDownTestSuite() { pg_.reset(); }
  void SetUp() override {
    ASSERT_NE(pg_, nullptr) << "the PostgreSQL cluster did not start (see SetUpTestSuite's failure)";
    proxy_ = ProxyProcess::start(pg_->port(), proxy_yaml());
  }
  void TearDown() override { proxy_.reset(); }
  virtual std::string proxy_yaml() const { return ""; }

  /// A connection through the proxy; fails the test if it does not open.
  PgConn via_proxy(const std::string& extra = "") const { return pq_connect_ok(proxy_->conninfo(extra)); }
  /// A direct connection to the cluster, for checking what the server saw.
  static PgConn direct(const std::string& extra = "") { return pq_connect_ok(pg_->conninfo(extra)); }

  /// Drops and creates `dbs` (a rewritten database and its twin), each loaded with `schema`.
  static void recreate_databases(const std::string& schema, std::initializer_list<const char*> dbs = {"app", "twin"}) {
    auto admin = direct();
    for (const char* db : dbs) {
      ASSERT_TRUE(admin.exec(std::string("DROP DATABASE IF EXISTS ") + db + " WITH (FORCE)").ok);
      ASSERT_TRUE(admin.exec(std::string("CREATE DATABASE ") + db).ok);
      const auto r = direct(std::string("dbname=") + db).exec(schema);
      ASSERT_TRUE(r.ok) << r.message;
    }
  }
  /// A proxy in enforce mode whose policy file is `policy_yaml`, written into `dir`.
  static std::unique_ptr<ProxyProcess> start_enforcing(const TempDir& dir, const std::string& policy_yaml,
                                                       std::vector<std::string> extra_args = {}) {
    write_file(dir.file("policy.yaml"), policy_yaml);
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "enforce";
    o.extra_args = {"--policy", dir.file("policy.yaml")};
    o.extra_args.insert(o.extra_args.end(), extra_args.begin(), extra_args.end());
    return ProxyProcess::start(o);
  }

  static inline std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<ProxyProcess> proxy_;
};

/// Polls `cond` every 20 ms until it is true or `timeout` passes.
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

/// Waits (poll on PQsocket) until libpq has a complete result ready, without blocking forever.
inline bool wait_not_busy(PGconn* c, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!PQconsumeInput(c)) return false;
  while (PQisBusy(c)) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{PQsocket(c), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left));
    if (!PQconsumeInput(c)) return false;
  }
  return true;
}

/// The statement just sent on `c` is cancelled the way psql's Ctrl-C does it (PQcancel: a
/// CancelRequest on a new connection) and must end with 57014 within `timeout`. Call it through
/// ASSERT_NO_FATAL_FAILURE so that a failure stops the test.
inline void expect_cancelled(PGconn* c, std::chrono::milliseconds timeout = 10s) {
  std::this_thread::sleep_for(300ms);  // let the statement start on the server
  PGcancel* cancel = PQgetCancel(c);
  ASSERT_NE(cancel, nullptr);
  char err[256] = {};
  EXPECT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  ASSERT_TRUE(wait_not_busy(c, timeout)) << "the statement was not cancelled";
  EXPECT_EQ(drain_results(c).sqlstate, "57014");
}

/// Pipeline mode, non-blocking: sends `queries` statements returning `row_bytes` each, writing
/// as long as the socket takes it and reading only when it does not, then one Sync.
/// Returns "" on success or what went wrong.
inline std::string run_deep_pipeline(PGconn* c, int queries, int row_bytes) {
  if (!PQenterPipelineMode(c) || PQsetnonblocking(c, 1) != 0) return "cannot enter pipeline mode";
  const std::string sql = "SELECT repeat('r', " + std::to_string(row_bytes) + ")";
  int sent = 0, received = 0, syncs = 0;
  bool sync_sent = false;
  std::string error;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (syncs < 1 && error.empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      error = "pipeline stalled after " + std::to_string(sent) + " sent, " + std::to_string(received) + " received";
      break;
    }
    if (sent < queries) {
      if (!PQsendQueryParams(c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)) return PQerrorMessage(c);
      ++sent;
    } else if (!sync_sent) {
      if (!PQpipelineSync(c)) return PQerrorMessage(c);
      sync_sent = true;
    }
    const int f = PQflush(c);
    if (f < 0) return PQerrorMessage(c);
    if (sent < queries && f == 0) continue;  // keep writing while the socket takes it
    pollfd p{PQsocket(c), static_cast<short>(POLLIN | (f == 1 ? POLLOUT : 0)), 0};
    ::poll(&p, 1, 100);
    if (!PQconsumeInput(c)) return PQerrorMessage(c);
    while (!PQisBusy(c) && error.empty()) {
      PGresult* res = PQgetResult(c);
      if (!res) continue;  // end of one query's results
      const auto st = PQresultStatus(res);
      if (st == PGRES_TUPLES_OK && PQgetlength(res, 0, 0) == row_bytes) ++received;
      else if (st == PGRES_PIPELINE_SYNC) ++syncs;
      else error = std::string("unexpected result ") + PQresStatus(st) + ": " + PQresultErrorMessage(res);
      PQclear(res);
      if (syncs) break;
    }
  }
  if (error.empty() && received != queries)
    error = std::to_string(received) + " of " + std::to_string(queries) + " results";
  PQsetnonblocking(c, 0);
  if (!PQexitPipelineMode(c) && error.empty()) error = PQerrorMessage(c);
  return error;
}

/// `pg_dump --schema-only` of database `db`, for comparing a rewritten database with its twin.
inline std::string schema_dump(const PgCluster& pg, const std::string& db) {
  const auto r = run_command_split({std::string(SG_PG_BINDIR) + "/pg_dump", "--schema-only", "--no-comments", "-d",
                                    pg.conninfo("dbname=" + db)});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  // pg_dump 15.14+ fences its output with \restrict/\unrestrict lines carrying a random key.
  std::string out, line;
  std::istringstream in(r.output);
  while (std::getline(in, line))
    if (line.rfind("\\restrict ", 0) != 0 && line.rfind("\\unrestrict ", 0) != 0) out += line + "\n";
  return out;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace schemagate::testing
