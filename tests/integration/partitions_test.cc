// Partitioned tables through the proxy, judged and rewritten with the partitions read live from
// the catalog: CREATE INDEX on a parent (which cannot be built CONCURRENTLY) is built leaf by
// leaf, concurrently, and attached level by level — sub-partitions and the DEFAULT partition
// included — ending in exactly the schema the plain statement gives; DETACH PARTITION becomes
// DETACH … CONCURRENTLY, and is refused, naming it, while a DEFAULT partition forbids that.
// The partitions cost one extra catalog round trip, only for a partitioned table.
#include <list>

#include "proxy/approvals/http_client.h"
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

const std::string kPsql = std::string(SG_PG_BINDIR) + "/psql";

const char* kPolicy =
    "mode: enforce\n"
    "thresholds:\n"
    "  small_table_rows: 1000\n"
    "  lock_timeout: 2s\n"
    "rules:\n"
    "  require_lock_timeout: pass\n";

// Range by year; 2026 sub-partitioned by region; a DEFAULT partition for everything else.
// Never analysed as a whole: the parent's size is unknown, so the rules treat it as large.
const char* kSchema = R"(
CREATE TABLE measurements (id bigint NOT NULL, at date NOT NULL, region text NOT NULL, v int)
  PARTITION BY RANGE (at);
CREATE TABLE m2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE m2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
  PARTITION BY LIST (region);
CREATE TABLE m2026_eu PARTITION OF m2026 FOR VALUES IN ('eu');
CREATE TABLE m2026_us PARTITION OF m2026 FOR VALUES IN ('us');
CREATE TABLE m_default PARTITION OF measurements DEFAULT;
INSERT INTO measurements
  SELECT g, date '2024-06-01' + (g % 900), CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g % 100
    FROM generate_series(1, 9000) g;
CREATE TABLE plain (id bigint PRIMARY KEY, v int);
INSERT INTO plain SELECT g, g FROM generate_series(1, 5000) g;
ANALYZE plain;
)";

struct PsqlRun {
  int exit_code = -1;
  std::string output;
};

class Partitions : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ASSERT_NO_FATAL_FAILURE(recreate_databases(kSchema));
    write_file(dir_.file("policy.yaml"), kPolicy);
    admin_port_ = free_port();
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "enforce";
    o.config_yaml = "admin:\n  address: 127.0.0.1\n  port: " + std::to_string(admin_port_) + "\n" +
                    "state:\n  path: \":memory:\"\n";
    o.extra_args = {"--policy", dir_.file("policy.yaml")};
    proxy_ = ProxyProcess::start(o);
    ASSERT_TRUE(eventually([&] { return port_accepts(admin_port_); }, 60s)) << "admin listener did not open";
  }

  PsqlRun psql_via_proxy(const std::string& sql) const {
    const auto r = run_command({kPsql, "-X", "-v", "ON_ERROR_STOP=1", "-d", proxy_->conninfo("dbname=app"), "-c", sql});
    return {r.exit_code, r.output};
  }

  /// schemagate_catalog_queries_total: catalog facts round trips so far.
  long catalog_round_trips() const {
    proxy::approvals::HttpCall call;
    call.url = "http://127.0.0.1:" + std::to_string(admin_port_) + "/metrics";
    call.timeout_ms = 30000;
    const auto r = proxy::approvals::http_call(call);
    EXPECT_EQ(r.status, 200) << r.error;
    const std::string key = "\nschemagate_catalog_queries_total ";
    const auto at = r.body.find(key);
    if (at == std::string::npos) {
      ADD_FAILURE() << "no catalog_queries_total in\n" << r.body;
      return -1;
    }
    return std::stol(r.body.substr(at + key.size()));
  }

  static std::string partition_of(const std::string& table) {
    return direct("dbname=app")
        .scalar("SELECT coalesce((SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = '" + table +
                "'::regclass), '(none)')");
  }

  TempDir dir_{"sg-partitions"};
  int admin_port_ = 0;
};

TEST_F(Partitions, CreateIndexOnAPartitionedTableIsBuiltLeafByLeafAndEndsAsThePlainStatementWould) {
  const std::string sql = "CREATE INDEX ON measurements (v)";
  const auto r = psql_via_proxy(sql);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rewritten by rule require_concurrent_index"), std::string::npos) << r.output;
  // Every leaf, the sub-partitions' and the DEFAULT partition's included, built concurrently.
  for (const std::string leaf : {"m2025", "m2026_eu", "m2026_us", "m_default"})
    EXPECT_NE(r.output.find("CREATE INDEX CONCURRENTLY " + leaf + "_v_idx ON public." + leaf + " "), std::string::npos)
        << leaf << "\n"
        << r.output;
  // The sub-partitioned m2026 has no storage: its index is created ON ONLY and attached, never built.
  EXPECT_EQ(r.output.find("CONCURRENTLY m2026_v_idx"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CREATE INDEX m2026_v_idx ON ONLY public.m2026 "), std::string::npos) << r.output;

  ASSERT_TRUE(direct("dbname=twin").exec(sql).ok);
  EXPECT_EQ(schema_dump(*pg_, "app"), schema_dump(*pg_, "twin"));
  auto app = direct("dbname=app");
  EXPECT_EQ(app.scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "0");
  // One index per table of the tree (root, m2025, m2026, its two leaves, default), all attached.
  EXPECT_EQ(app.scalar("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                       "WHERE c.relname IN ('measurements', 'm2025', 'm2026', 'm2026_eu', 'm2026_us', 'm_default')"),
            "6");
  EXPECT_EQ(app.scalar("SELECT count(*) FROM pg_partition_tree('measurements_v_idx')"), "6");
}

TEST_F(Partitions, DetachPartitionIsRefusedWhileADefaultPartitionForbidsConcurrentlyThenRunsConcurrently) {
  const std::string sql = "ALTER TABLE measurements DETACH PARTITION m2025";
  const std::string rows = direct("dbname=app").scalar("SELECT count(*) FROM m2025");
  auto refused = psql_via_proxy(sql);
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("has a DEFAULT partition (public.m_default)"), std::string::npos) << refused.output;
  EXPECT_EQ(partition_of("m2025"), "measurements") << "the refused DETACH ran";

  // Proof that it matters: as written, DETACH takes ACCESS EXCLUSIVE on the parent — and with
  // the DEFAULT partition gone, CONCURRENTLY is allowed and the proxy runs that instead.
  ASSERT_TRUE(direct("dbname=app").exec("DROP TABLE m_default").ok);
  const auto ran = psql_via_proxy(sql);
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_NE(ran.output.find("rewritten by rule require_concurrent_detach_partition"), std::string::npos) << ran.output;
  EXPECT_EQ(partition_of("m2025"), "(none)");
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM m2025"), rows);
  EXPECT_EQ(direct("dbname=app").scalar("SELECT count(*) FROM pg_inherits WHERE inhdetachpending"), "0");
}

TEST_F(Partitions, ThePartitionsCostOneMoreCatalogRoundTripOnlyForAPartitionedTable) {
  auto c = via_proxy("dbname=app");
  const long before = catalog_round_trips();
  // A nullable column without a default: passed, after its table's facts were read.
  ASSERT_TRUE(c.exec("ALTER TABLE plain ADD COLUMN w int").ok);
  const long after_plain = catalog_round_trips();
  EXPECT_EQ(after_plain - before, 1) << "a DDL message on an ordinary table: one catalog round trip";
  ASSERT_TRUE(c.exec("ALTER TABLE measurements ADD COLUMN w int").ok);
  EXPECT_EQ(catalog_round_trips() - after_plain, 2) << "a partitioned table: its partitions in a second round trip";
  EXPECT_EQ(c.scalar("SELECT 'still usable'"), "still usable");
}

}  // namespace
}  // namespace schemagate::testing
