// The declared metrics: per-thread shards summed on scrape, histogram buckets cumulative,
// label families, and an exposition Prometheus' own parser accepts (checked with
// python3-prometheus-client where it is installed).
#include "proxy/metrics.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

namespace schemagate::proxy {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, ThreadsCountIntoTheirOwnShardsAndAScrapeSumsThem) {
  Metrics m(4);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 6; ++t)  // 4 I/O threads and 2 others (the shared shard)
    threads.emplace_back([&m, t] {
      if (t < 4) Metrics::bind_thread(t);
      for (int i = 0; i < 10000; ++i) m.add(Counter::client_bytes, 3);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.total(Counter::client_bytes), 6u * 10000u * 3u);
  EXPECT_TRUE(has_line(m.render({}), "schemagate_client_received_bytes_total 180000"));
}

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  Metrics m(1);
  m.observe(Histogram::catalog_query_seconds, 0.0004);  // first bucket
  m.observe(Histogram::catalog_query_seconds, 0.003);   // le 0.005
  m.observe(Histogram::catalog_query_seconds, 100);     // only +Inf
  const auto text = m.render({});
  EXPECT_TRUE(has_line(text, "# TYPE schemagate_catalog_query_duration_seconds histogram")) << text;
  EXPECT_TRUE(has_line(text, "schemagate_catalog_query_duration_seconds_bucket{le=\"0.0005\"} 1"));
  EXPECT_TRUE(has_line(text, "schemagate_catalog_query_duration_seconds_bucket{le=\"0.0025\"} 1"));
  EXPECT_TRUE(has_line(text, "schemagate_catalog_query_duration_seconds_bucket{le=\"0.005\"} 2"));
  EXPECT_TRUE(has_line(text, "schemagate_catalog_query_duration_seconds_bucket{le=\"5\"} 2"));
  EXPECT_TRUE(has_line(text, "schemagate_catalog_query_duration_seconds_bucket{le=\"+Inf\"} 3"));
  EXPECT_TRUE(has_line(text, "schemagate_catalog_query_duration_seconds_count 3"));
  EXPECT_TRUE(has_line(text, "schemagate_catalog_query_duration_seconds_sum 100.003"));
}

TEST(Metrics, ErrorsBySqlstateClassAndRulesByName) {
  Metrics m(1);
  m.count_error("22012");
  m.count_error("22P02");
  m.count_error("SG001");
  m.count_error("ZZ999");  // not a class PostgreSQL defines: "other"
  m.count_rule("drop_table");
  m.count_rule("no_such_rule");
  const auto text = m.render({});
  EXPECT_TRUE(has_line(text, "schemagate_errors_total{class=\"22\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "schemagate_errors_total{class=\"SG\"} 1"));
  EXPECT_TRUE(has_line(text, "schemagate_errors_total{class=\"other\"} 1"));
  EXPECT_TRUE(has_line(text, "schemagate_rule_matches_total{rule=\"drop_table\"} 1"));
  EXPECT_TRUE(has_line(text, "schemagate_rule_matches_total{rule=\"other\"} 1"));
}

TEST(Metrics, GaugesComeFromTheirCallbacksAndUnknownOnesAreLeftOut) {
  Metrics m(1);
  MetricsGauges g;
  g.client_connections = [] { return std::int64_t{7}; };
  g.pending_requests = [] { return std::int64_t{-1}; };  // the store did not answer
  g.draining = [] { return true; };
  const auto text = m.render(g);
  EXPECT_TRUE(has_line(text, "schemagate_client_connections_open 7")) << text;
  EXPECT_TRUE(has_line(text, "schemagate_draining 1"));
  EXPECT_EQ(text.find("schemagate_approval_requests_pending"), std::string::npos);
  EXPECT_EQ(text.find("schemagate_server_connections_open"), std::string::npos);
}

TEST(Metrics, EveryFamilyHasOneHelpAndTypeAndPrometheusParsesTheText) {
  Metrics m(2);
  m.add(Counter::statements_hold);
  m.count_rule("drop_table");
  m.observe(Histogram::plan_seconds, 1.5);
  const auto text = m.render({});
  // Counter families are named without _total in HELP/TYPE, their samples with it.
  EXPECT_TRUE(has_line(text, "# TYPE schemagate_statements counter")) << text;
  EXPECT_TRUE(has_line(text, "schemagate_statements_total{outcome=\"hold\"} 1"));
  std::size_t types = 0, helps = 0;
  for (std::size_t at = 0; (at = text.find("# TYPE ", at)) != std::string::npos; ++at) ++types;
  for (std::size_t at = 0; (at = text.find("# HELP ", at)) != std::string::npos; ++at) ++helps;
  EXPECT_EQ(types, helps);

  if (std::system("/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null") != 0)
    GTEST_SKIP() << "python3-prometheus-client is not installed (deploy/install-deps.sh installs it)";
  const std::string file = ::testing::TempDir() + "sg-metrics-test.txt";
  std::ofstream(file) << text;
  const std::string cmd =
      "/usr/bin/python3 " + std::string(SG_SOURCE_DIR) + "/tests/tools/parse_metrics.py " + file + " >/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << text;
  std::remove(file.c_str());
}

}  // namespace
}  // namespace schemagate::proxy
