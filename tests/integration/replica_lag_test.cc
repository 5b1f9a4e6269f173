// The backfill's replica lag throttle against a real primary and a real streaming standby:
// while the standby's replay is paused and it falls further behind than
// thresholds.backfill_max_replica_lag, the backfill fills no row; once replay resumes it
// finishes. A role that may not read the replicas' positions is told so and is not held up.
#include <thread>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

const std::string kPsql = std::string(SG_PG_BINDIR) + "/psql";

class ReplicaLag : public ProxiedPg {
 protected:
  static void SetUpTestSuite() {
    PgClusterOptions o;
    o.hba = {"local all all trust", "host all all 127.0.0.1/32 trust", "host replication all 127.0.0.1/32 trust"};
    StartCluster(o);
    standby_ = PgCluster::start_standby(*pg_);
    auto admin = direct();
    if (!admin.exec("CREATE ROLE app LOGIN; GRANT CREATE ON SCHEMA public TO app").ok) standby_.reset();
  }
  static void TearDownTestSuite() {
    standby_.reset();
    pg_.reset();
  }

  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ASSERT_NE(standby_, nullptr);
    auto admin = direct();
    ASSERT_TRUE(admin.exec("DROP TABLE IF EXISTS orders, ballast").ok);
    auto as_app = direct("user=app");
    ASSERT_TRUE(as_app.exec("CREATE TABLE orders (id bigint PRIMARY KEY, note text);"
                            "INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 20000) g; ANALYZE orders")
                    .ok);
    ASSERT_TRUE(caught_up()) << "the standby did not catch up";
    write_file(dir_.file("policy.yaml"),
               "mode: enforce\n"
               "thresholds:\n"
               "  small_table_rows: 100\n"
               "  lock_timeout: 2s\n"
               "  backfill_batch_rows: 1000\n"
               "  backfill_max_replica_lag: 512kB\n");
    ProxyOptions po;
    po.upstream_port = pg_->port();
    po.policy_mode = "enforce";
    po.extra_args = {"--policy", dir_.file("policy.yaml")};
    proxy_ = ProxyProcess::start(po);
  }

  void TearDown() override {
    resume_replay();  // never leave the standby paused for the next test
    proxy_.reset();
  }

  static PgConn on_standby() { return pq_connect_ok(standby_->conninfo()); }
  static void pause_replay() { ASSERT_TRUE(on_standby().exec("SELECT pg_wal_replay_pause()").ok); }
  static void resume_replay() {
    if (standby_) on_standby().exec("SELECT pg_wal_replay_resume()");
  }
  static long lag_bytes() {
    return std::stol(direct().scalar(
        "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), -1)::bigint FROM pg_stat_replication"));
  }
  static bool caught_up() {
    return eventually([] { return lag_bytes() == 0; }, 60s);
  }
  /// Several MB of WAL the paused standby has not replayed.
  static void fall_behind() {
    ASSERT_NO_FATAL_FAILURE(pause_replay());
    ASSERT_TRUE(direct().exec("CREATE TABLE ballast AS SELECT g, md5(g::text) FROM generate_series(1, 100000) g").ok);
    ASSERT_TRUE(eventually([] { return lag_bytes() > 2 * 1024 * 1024; }, 60s)) << lag_bytes();
  }
  static long tokens_filled() {
    const auto r = direct().exec("SELECT count(token) FROM orders");
    return r.ok && !r.rows.empty() ? std::stol(r.value()) : -1;  // -1: no column yet
  }

  static inline std::unique_ptr<PgCluster> standby_;
  TempDir dir_{"sg-lag"};
};

constexpr const char* kAddColumn = "ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()";

TEST_F(ReplicaLag, BackfillWaitsForALaggingStandbyAndFinishesWhenReplayResumes) {
  ASSERT_NO_FATAL_FAILURE(fall_behind());
  CommandResult psql;
  std::thread client([&] {
    psql = run_command({kPsql, "-X", "-v", "ON_ERROR_STOP=1", "-d", proxy_->conninfo("user=postgres"), "-c", kAddColumn},
                       std::chrono::seconds(180));
  });
  struct Join {
    std::thread& t;
    ~Join() {
      resume_replay();
      if (t.joinable()) t.join();
    }
  } join{client};

  // The column exists (phases 1-2 ran), and the backfill does not touch a row while the standby
  // stays behind: replay is paused, so its lag can only grow.
  ASSERT_TRUE(eventually([] { return tokens_filled() >= 0; }, 60s)) << proxy_->log();
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(tokens_filled(), 0);
  EXPECT_GT(lag_bytes(), 512 * 1024);

  resume_replay();
  client.join();
  ASSERT_EQ(psql.exit_code, 0) << psql.output;
  EXPECT_EQ(tokens_filled(), 20000);
  EXPECT_EQ(direct().scalar("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                            "AND attname = 'token'"),
            "t");
  EXPECT_NE(psql.output.find("waits: replica 'walreceiver' (127.0.0.1) is "), std::string::npos) << psql.output;
  EXPECT_NE(psql.output.find("behind in replay, above backfill_max_replica_lag (512.0 kB)"), std::string::npos)
      << psql.output;
  EXPECT_NE(psql.output.find("goes on: replicas within 512.0 kB after "), std::string::npos) << psql.output;
  EXPECT_NE(psql.output.find("ALTER TABLE"), std::string::npos) << psql.output;

  // The wait is counted for /metrics' backfill_replica_waits_total; the standby has every row.
  ASSERT_TRUE(caught_up());
  EXPECT_EQ(on_standby().scalar("SELECT count(token) FROM orders"), "20000");
}

TEST_F(ReplicaLag, ARoleThatCannotSeeReplicaPositionsIsToldAndNotHeldUp) {
  // Without pg_read_all_stats, pg_stat_replication shows the walsender but not its positions:
  // the backfill says it cannot throttle and runs while the standby stays paused.
  ASSERT_NO_FATAL_FAILURE(fall_behind());
  const auto psql = run_command(
      {kPsql, "-X", "-v", "ON_ERROR_STOP=1", "-d", proxy_->conninfo("user=app"), "-c", kAddColumn},
      std::chrono::seconds(180));
  ASSERT_EQ(psql.exit_code, 0) << psql.output;
  EXPECT_EQ(tokens_filled(), 20000);
  EXPECT_NE(psql.output.find("cannot see its replicas' replay lag (pg_stat_replication hides it from roles without "
                             "pg_read_all_stats); it runs without the replica lag throttle"),
            std::string::npos)
      << psql.output;
  EXPECT_EQ(psql.output.find("waits: replica"), std::string::npos) << psql.output;
  EXPECT_GT(lag_bytes(), 512 * 1024);  // the standby really was behind all along
}

}  // namespace
}  // namespace schemagate::testing
