// Load through schemagate: 200 concurrent libpq clients, and pgbench in all three query modes.
#include <atomic>
#include <latch>
#include <thread>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

class Load : public ProxiedPg {
 protected:
  static void SetUpTestSuite() {
    PgClusterOptions o;
    o.max_connections = 260;
    StartCluster(o);
  }
  // Two I/O threads, as on the 2-core target machine.
  std::string proxy_yaml() const override { return "workers: 2\nlog:\n  level: warn\n"; }

  void pgbench(const std::string& mode) {
    const std::vector<std::string> conn{"-h", "127.0.0.1", "-p", std::to_string(proxy_->port()), "-U", "postgres"};
    auto with = [&](std::vector<std::string> args) {
      std::vector<std::string> argv{std::string(SG_PG_BINDIR) + "/pgbench"};
      argv.insert(argv.end(), conn.begin(), conn.end());
      argv.insert(argv.end(), args.begin(), args.end());
      argv.push_back("postgres");
      return argv;
    };
    const auto init = run_command(with({"-i", "-s", "1", "-q"}));
    ASSERT_EQ(init.exit_code, 0) << init.output;
    const auto run = run_command(with({"-T", "3", "-c", "4", "-j", "2", "-M", mode}));
    std::cout << run.output;
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("number of failed transactions: 0 "), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("query mode: " + mode), std::string::npos);
    // It really ran transactions.
    const auto pos = run.output.find("number of transactions actually processed: ");
    ASSERT_NE(pos, std::string::npos);
    EXPECT_GT(std::stol(run.output.substr(pos + 43)), 100);
  }
};

TEST_F(Load, TwoHundredConcurrentClientsAllSucceed) {
  constexpr int kClients = 200;
  std::latch all_connected(kClients), go(1);
  std::atomic<int> connected{0}, succeeded{0};
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto r = pq_connect(proxy_->conninfo("application_name=sg-load"), 60s);
      if (r.ok()) ++connected;
      all_connected.count_down();
      go.wait();
      if (!r.ok()) {
        failures[i] = "connect: " + r.error;
        return;
      }
      const auto& c = r.conn;
      const std::string n = std::to_string(i);
      const char* checks[][2] = {
          {"SELECT 1", "1"},
          {"CREATE TEMP TABLE mine AS SELECT generate_series(1, 100) AS x", ""},
          {"SELECT sum(x) FROM mine", "5050"},
      };
      for (const auto& [sql, want] : checks) {
        const auto q = c.exec(sql);
        if (!q.ok || (*want && q.value() != want)) {
          failures[i] = std::string(sql) + ": " + q.sqlstate + " " + q.message;
          return;
        }
      }
      const auto p = c.exec_params("SELECT $1::int * 2", {n});
      if (!p.ok || p.value() != std::to_string(i * 2)) {
        failures[i] = "exec_params: " + p.message;
        return;
      }
      ++succeeded;
    });
  }
  all_connected.wait();
  const double connect_s = seconds_since(t0);
  // All 200 are connected at the same time: the server sees 200 sessions from the proxy.
  EXPECT_EQ(direct().scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sg-load'"),
            std::to_string(connected.load()));
  go.count_down();
  for (auto& t : threads) t.join();
  std::cout << "[ figures  ] " << kClients << " clients: connected in " << connect_s << " s, all done in "
            << seconds_since(t0) << " s\n";
  EXPECT_EQ(connected.load(), kClients);
  EXPECT_EQ(succeeded.load(), kClients);
  int shown = 0;
  for (const auto& f : failures)
    if (!f.empty() && shown++ < 5) ADD_FAILURE() << f;
  EXPECT_TRUE(proxy_->alive());
  // Every client has gone: so have their server sessions (nothing leaks in the proxy).
  auto d = direct();
  EXPECT_TRUE(eventually(
      [&] { return d.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sg-load'") == "0"; }))
      << d.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sg-load'")
      << " server sessions outlived their clients";
}

TEST_F(Load, PgbenchSimple) { pgbench("simple"); }
TEST_F(Load, PgbenchExtended) { pgbench("extended"); }
TEST_F(Load, PgbenchPrepared) { pgbench("prepared"); }

}  // namespace
}  // namespace schemagate::testing
