#pragma once
// Shared by the integration tests: one PostgreSQL 15 cluster per test suite, a fresh proxy
// per test, and small waiting helpers. Everything is torn down by destructors, also on failure.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

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

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace schemagate::testing
