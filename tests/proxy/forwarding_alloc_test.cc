// The forwarding path must not allocate per message: counts C++ heap allocations made while
// the proxy (in this process) forwards thousands of queries from a libpq client. libpq itself
// allocates with malloc, which is not counted, and the client loop uses only libpq's C API.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>

#include "policy/engine.h"
#include "proxy/policy_interceptor.h"
#include "tests/proxy/in_process_proxy.h"
#include "tests/support/pg_cluster.h"

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace schemagate::proxy {
namespace {

/// Which interceptor the in-process proxy runs: none (ForwardAll) or the real policy engine.
enum class Interception { forward_all, policy };

class ForwardingAllocations : public ::testing::TestWithParam<Interception> {
 protected:
  void SetUp() override {
    pg_ = schemagate::testing::PgCluster::start();
    std::shared_ptr<const Interceptor> interceptor;
    if (GetParam() == Interception::policy)
      interceptor = std::make_shared<PolicyInterceptor>(std::make_shared<const policy::PolicyEngine>(config::Policy{}));
    else
      interceptor = std::make_shared<ForwardAll>();
    proxy_ = std::make_unique<testing::InProcessProxy>(pg_->port(), interceptor);
    ASSERT_TRUE(proxy_->ok()) << proxy_->error();
  }
  void TearDown() override {
    proxy_.reset();
    pg_.reset();
  }

  /// C++ allocations per round trip of `run` (which must use only libpq's C API).
  template <class F>
  static double allocations_per_round_trip(PGconn* conn, F run, int rounds) {
    for (int i = 0; i < 200; ++i) run(conn);  // warm up caches and buffers
    const auto before = g_allocations.load();
    for (int i = 0; i < rounds; ++i) run(conn);
    return double(g_allocations.load() - before) / rounds;
  }

  std::unique_ptr<schemagate::testing::PgCluster> pg_;
  std::unique_ptr<testing::InProcessProxy> proxy_;
};

TEST_P(ForwardingAllocations, SimpleAndExtendedQueriesDoNotAllocatePerMessage) {
  PGconn* conn = PQconnectdb(proxy_->conninfo().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PQclear(PQprepare(conn, "q", "SELECT $1::int + 1", 1, nullptr));

  const double simple = allocations_per_round_trip(conn, [](PGconn* c) { PQclear(PQexec(c, "SELECT 1")); }, 2000);
  const double prepared = allocations_per_round_trip(
      conn,
      [](PGconn* c) {
        const char* v[] = {"41"};
        PQclear(PQexecPrepared(c, "q", 1, v, nullptr, nullptr, 0));
      },
      2000);
  const double extended = allocations_per_round_trip(
      conn,
      [](PGconn* c) {
        const char* v[] = {"41"};
        PQclear(PQexecParams(c, "SELECT $1::int + 2", 1, nullptr, v, nullptr, nullptr, 0));
      },
      2000);
  PQfinish(conn);
  std::printf("C++ heap allocations per round trip: simple %.3f, extended %.3f, prepared %.3f\n", simple, extended,
              prepared);
  EXPECT_LT(extended, 0.01);
  EXPECT_LT(simple, 0.01);
  EXPECT_LT(prepared, 0.01);
}

INSTANTIATE_TEST_SUITE_P(Interceptors, ForwardingAllocations,
                         ::testing::Values(Interception::forward_all, Interception::policy),
                         [](const auto& p) { return p.param == Interception::policy ? "policy" : "forward_all"; });

}  // namespace
}  // namespace schemagate::proxy
