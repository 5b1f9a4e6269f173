// The forwarding path must not allocate per message: counts C++ heap allocations made while
// the proxy (in this process) forwards thousands of queries from a libpq client. libpq itself
// allocates with malloc, which is not counted, and the client loop uses only libpq's C API.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>

#include "config/model.h"
#include "policy/engine.h"
#include "proxy/interceptor.h"
#include "proxy/policy_interceptor.h"
#include "proxy/server.h"
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
    if (server_) return;
    pg_ = testing::PgCluster::start();
    auto cfg = std::make_shared<config::Config>();
    cfg->listen.port = 0;
    cfg->upstream.port = static_cast<std::uint16_t>(pg_->port());
    cfg->upstream.tls.mode = config::UpstreamTlsMode::disable;
    std::shared_ptr<const Interceptor> interceptor;
    if (GetParam() == Interception::policy)
      interceptor = std::make_shared<PolicyInterceptor>(std::make_shared<const policy::PolicyEngine>(config::Policy{}));
    else
      interceptor = std::make_shared<ForwardAll>();
    server_ = std::make_unique<Server>(cfg, interceptor);
    std::string error;
    ASSERT_TRUE(server_->start(error)) << error;
    thread_ = std::thread([] { server_->run(false); });
  }
  static void TearDownTestSuite() {
    if (server_) server_->shutdown();
    if (thread_.joinable()) thread_.join();
    server_.reset();
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

  static inline std::unique_ptr<testing::PgCluster> pg_;
  static inline std::unique_ptr<Server> server_;
  static inline std::thread thread_;
};

TEST_P(ForwardingAllocations, SimpleAndExtendedQueriesDoNotAllocatePerMessage) {
  const std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(server_->port()) + " user=postgres dbname=postgres sslmode=disable";
  PGconn* conn = PQconnectdb(conninfo.c_str());
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
  TearDownTestSuite();  // each parameter gets its own proxy
}

INSTANTIATE_TEST_SUITE_P(Interceptors, ForwardingAllocations,
                         ::testing::Values(Interception::forward_all, Interception::policy),
                         [](const auto& p) { return p.param == Interception::policy ? "policy" : "forward_all"; });

}  // namespace
}  // namespace schemagate::proxy
