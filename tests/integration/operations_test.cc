// Operating the proxy: /metrics (parsed by the official Prometheus parser), /healthz and
// /readyz (database down, draining), the audit log (every outcome, plans, approvals,
// fail-closed) and live reload (SIGHUP and POST /v1/reload, valid and invalid, seen by an open
// session without reconnecting). The real binary, a real PostgreSQL 15, real libpq clients.
#include <nlohmann/json.hpp>

#include <signal.h>

#include <fstream>
#include <future>
#include <sstream>

#include "proxy/approvals/http_client.h"
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

using json = nlohmann::json;
namespace approvals = proxy::approvals;

const std::string kToken = "ops-token-0123456789abcdef0123";

/// A policy with one outcome per kind of statement the tests send.
const std::string kPolicy =
    "mode: enforce\n"
    "rules:\n"
    "  drop_table: hold\n"
    "  truncate_table: reject\n";

class Operations : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    auto c = direct();
    ASSERT_TRUE(c.exec("DROP TABLE IF EXISTS ops_t, ops_new, ops_keep; "
                       "CREATE TABLE ops_t (id int PRIMARY KEY, v int); "
                       "INSERT INTO ops_t SELECT g, g FROM generate_series(1, 200) g; "
                       "CREATE TABLE ops_keep (id int)")
                    .ok);
    write_file(policy_path(), kPolicy);
  }

  std::string policy_path() const { return dir_.file("policy.yaml"); }
  std::string audit_path() const { return dir_.file("audit.jsonl"); }

  std::string config_yaml(const std::string& audit_yaml) const {
    return "admin:\n  address: 127.0.0.1\n  port: " + std::to_string(admin_port_) +
           "\n  tokens:\n    - {approver: alice, token: " + kToken +
           "}\n"
           "approvals:\n  wait_ms: 1000\n  reminder_ms: 1000\n  store: {path: \"" + dir_.file("approvals.db") +
           "\"}\n"
           "state:\n  path: \"" + dir_.file("state.db") + "\"\n" +
           "policy:\n  file: \"" + policy_path() + "\"\n" + audit_yaml;
  }

  void start(const std::string& audit_yaml = "") {
    if (audit_yaml.empty()) return start("audit:\n  path: \"" + audit_path() + "\"\n");
    admin_port_ = free_port();
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "";  // the policy file's own mode (enforce)
    o.config_yaml = config_yaml(audit_yaml);
    proxy_ = ProxyProcess::start(o);
    ASSERT_TRUE(eventually([&] { return port_accepts(admin_port_); }, 60s)) << "admin listener did not open";
  }

  approvals::HttpResult http(const std::string& method, const std::string& path, const std::string& token = "",
                             const std::string& body = "") const {
    approvals::HttpCall call;
    call.method = method;
    call.url = "http://127.0.0.1:" + std::to_string(admin_port_) + path;
    call.body = body;
    call.timeout_ms = 30000;
    if (!token.empty()) call.headers.emplace_back("Authorization", "Bearer " + token);
    return approvals::http_call(call);
  }

  /// GET /metrics, parsed by prometheus_client's text parser (tests/tools/parse_metrics.py).
  json metrics() const {
    const auto r = http("GET", "/metrics");
    EXPECT_EQ(r.status, 200) << r.error;
    const std::string file = dir_.file("metrics.txt");
    write_file(file, r.body);
    const auto parsed =
        run_command_split({"/usr/bin/python3", std::string(SG_SOURCE_DIR) + "/tests/tools/parse_metrics.py", file});
    EXPECT_EQ(parsed.exit_code, 0) << parsed.errors << "\n" << r.body;
    const auto j = json::parse(parsed.output, nullptr, false);
    return j.is_discarded() ? json::object() : j;
  }
  static double sample(const json& m, const std::string& key) {
    const auto& s = m["samples"];
    return s.contains(key) ? s[key].get<double>() : -1;
  }

  std::vector<json> audit() const {
    std::vector<json> out;
    std::ifstream in(audit_path());
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << "audit line is not JSON: " << line;
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
  }
  /// The first audit line with these field values, or null.
  json find_audit(const json& fields) const {
    for (const auto& e : audit()) {
      bool all = true;
      for (const auto& [k, v] : fields.items()) all = all && e.contains(k) && e[k] == v;
      if (all) return e;
    }
    return nullptr;
  }

  static bool table_exists(const std::string& name) {
    return direct().scalar("SELECT count(*) FROM pg_class WHERE relname = '" + name + "'") == "1";
  }

  TempDir dir_{"sg-ops"};
  int admin_port_ = 0;
};

TEST_F(Operations, MetricsAfterAScriptedWorkloadParseAndCount) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto c = via_proxy("application_name=ops-test");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.exec("SELECT count(*) FROM ops_t").ok);
  ASSERT_TRUE(c.exec("CREATE TABLE ops_new (id int)").ok);                  // pass
  const auto idx = c.exec("CREATE INDEX ops_t_v ON ops_t (v)");              // rewrite: runs a plan
  ASSERT_TRUE(idx.ok) << idx.sqlstate << " " << idx.message;
  const auto trunc = c.exec("TRUNCATE ops_keep");                             // reject
  EXPECT_EQ(trunc.sqlstate, "SG001") << trunc.message;
  EXPECT_EQ(c.exec("SELECT 1/0").sqlstate, "22012");

  const json m = metrics();
  ASSERT_TRUE(m.contains("samples")) << m.dump();
  EXPECT_EQ(m["families"]["schemagate_statements"], "counter");
  EXPECT_EQ(m["families"]["schemagate_plan_duration_seconds"], "histogram");
  EXPECT_EQ(m["families"]["schemagate_client_connections_open"], "gauge");
  EXPECT_EQ(sample(m, "schemagate_build_info{version=" SG_VERSION "}"), 1);
  EXPECT_GE(sample(m, "schemagate_client_connections_open"), 1);  // this connection is open
  EXPECT_GE(sample(m, "schemagate_server_connections_open"), 1);
  EXPECT_GE(sample(m, "schemagate_client_connections_total"), 1);
  EXPECT_GE(sample(m, "schemagate_requests_total{path=fast}"), 6);
  EXPECT_GE(sample(m, "schemagate_requests_total{path=parsed}"), 3);
  EXPECT_GE(sample(m, "schemagate_statements_total{outcome=pass}"), 1);
  EXPECT_EQ(sample(m, "schemagate_statements_total{outcome=rewrite}"), 1);
  EXPECT_EQ(sample(m, "schemagate_statements_total{outcome=reject}"), 1);
  EXPECT_EQ(sample(m, "schemagate_plans_total{result=started}"), 1);
  EXPECT_EQ(sample(m, "schemagate_plans_total{result=succeeded}"), 1);
  EXPECT_GE(sample(m, "schemagate_plan_phases_total{result=succeeded}"), 1);
  EXPECT_EQ(sample(m, "schemagate_plan_duration_seconds_count"), 1);
  EXPECT_EQ(sample(m, "schemagate_plan_duration_seconds_bucket{le=+Inf}"), 1);
  EXPECT_GE(sample(m, "schemagate_catalog_queries_total"), 1);
  EXPECT_GE(sample(m, "schemagate_catalog_query_duration_seconds_count"), 1);
  EXPECT_GE(sample(m, "schemagate_errors_total{class=22}"), 1);
  EXPECT_GE(sample(m, "schemagate_errors_total{class=SG}"), 1);
  EXPECT_GE(sample(m, "schemagate_rule_matches_total{rule=truncate_table}"), 1);
  EXPECT_GT(sample(m, "schemagate_client_received_bytes_total"), 0);
  EXPECT_GT(sample(m, "schemagate_server_received_bytes_total"), 0);
  EXPECT_GE(sample(m, "schemagate_parse_cache_lookups_total{result=miss}"), 1);
  EXPECT_EQ(sample(m, "schemagate_approval_requests_pending"), 0);
}

TEST_F(Operations, ReadinessFollowsTheDatabaseAndTurnsFalseWhileDraining) {
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_EQ(http("GET", "/healthz").status, 200);
  auto ready = http("GET", "/readyz");
  ASSERT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(json::parse(ready.body)["checks"]["database"], "ok") << ready.body;

  pg_->stop_server();
  EXPECT_TRUE(eventually([&] { return http("GET", "/readyz").status == 503; }, 30s));
  ready = http("GET", "/readyz");
  EXPECT_NE(json::parse(ready.body)["checks"]["database"], "ok") << ready.body;
  EXPECT_EQ(http("GET", "/healthz").status, 200) << "liveness must not follow the database";
  pg_->start_server();
  EXPECT_TRUE(eventually([&] { return http("GET", "/readyz").status == 200; }, 30s));

  // A statement in flight keeps the proxy draining; readiness is false from the signal on.
  auto c = via_proxy();
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT pg_sleep(3)"), 1);
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(::kill(proxy_->pid(), SIGTERM), 0);
  EXPECT_TRUE(eventually([&] {
    const auto r = http("GET", "/readyz");
    return r.status == 503 && r.body.find("shutting down") != std::string::npos;
  }, 30s));
  ASSERT_TRUE(wait_not_busy(c.get(), 60s));
  EXPECT_TRUE(drain_results(c.get()).ok) << "the statement in flight must complete during the drain";
  EXPECT_EQ(proxy_->wait_exit(60s), 0);
}

TEST_F(Operations, AuditLineForEveryOutcomePlanAndApproval) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto c = via_proxy("application_name=ops-test");
  ASSERT_TRUE(c.exec("CREATE TABLE ops_new (id int)").ok);
  ASSERT_TRUE(c.exec("CREATE INDEX ops_t_v ON ops_t (v)").ok);
  EXPECT_EQ(c.exec("TRUNCATE ops_keep").sqlstate, "SG001");
  EXPECT_EQ(c.exec("DROP TABLE ops_keep").sqlstate, "SG003");  // held, nobody decided within 1 s
  ASSERT_TRUE(c.exec("SELECT 1").ok);
  EXPECT_TRUE(table_exists("ops_keep"));

  const json pass = find_audit({{"event", "decision"}, {"command_tag", "CREATE TABLE"}});
  ASSERT_FALSE(pass.is_null()) << read_file(audit_path());
  EXPECT_EQ(pass["outcome"], "pass");
  EXPECT_EQ(pass["action"], "forwarded");
  EXPECT_EQ(pass["user"], "postgres");
  EXPECT_EQ(pass["database"], "postgres");
  EXPECT_EQ(pass["application_name"], "ops-test");
  EXPECT_FALSE(pass["client_addr"].get<std::string>().empty());
  EXPECT_FALSE(pass["fingerprint"].get<std::string>().empty());
  EXPECT_NE(pass["time"].get<std::string>().find('T'), std::string::npos);

  const json rewrite = find_audit({{"event", "decision"}, {"command_tag", "CREATE INDEX"}});
  ASSERT_FALSE(rewrite.is_null());
  EXPECT_EQ(rewrite["outcome"], "rewrite");
  EXPECT_EQ(rewrite["action"], "rewritten");
  const json started = find_audit({{"event", "plan_started"}});
  ASSERT_FALSE(started.is_null());
  const json phase = find_audit({{"event", "plan_phase"}, {"plan", started["plan"]}});
  ASSERT_FALSE(phase.is_null());
  EXPECT_EQ(phase["result"], "succeeded");
  EXPECT_GE(phase["duration_ms"].get<std::int64_t>(), 0);
  const json finished = find_audit({{"event", "plan_finished"}, {"plan", started["plan"]}});
  ASSERT_FALSE(finished.is_null());
  EXPECT_EQ(finished["status"], "succeeded");

  const json reject = find_audit({{"event", "decision"}, {"command_tag", "TRUNCATE TABLE"}});
  ASSERT_FALSE(reject.is_null()) << read_file(audit_path());
  EXPECT_EQ(reject["outcome"], "reject");
  EXPECT_EQ(reject["action"], "refused");
  EXPECT_EQ(reject["rule"], "truncate_table");

  const json hold = find_audit({{"event", "decision"}, {"command_tag", "DROP TABLE"}});
  ASSERT_FALSE(hold.is_null());
  EXPECT_EQ(hold["outcome"], "hold");
  EXPECT_EQ(hold["action"], "held");
  const json created = find_audit({{"event", "approval_created"}});
  ASSERT_FALSE(created.is_null()) << read_file(audit_path());
  const std::string id = created["request"];
  const auto approved = http("POST", "/v1/requests/" + id + "/approve", kToken, R"({"reason":"ticket 7"})");
  ASSERT_EQ(approved.status, 200) << approved.body;
  const json approval = find_audit({{"event", "approval_approved"}, {"request", id}});
  ASSERT_FALSE(approval.is_null()) << read_file(audit_path());
  EXPECT_EQ(approval["by"]["approver"], "alice");
  EXPECT_EQ(approval["by"]["reason"], "ticket 7");
  // The approved statement, sent again, runs and is audited as executed.
  ASSERT_TRUE(c.exec("DROP TABLE ops_keep").ok);
  EXPECT_FALSE(table_exists("ops_keep"));
  EXPECT_TRUE(eventually([&] { return !find_audit({{"event", "approval_executed"}, {"request", id}}).is_null(); }))
      << read_file(audit_path());
  // Ordinary statements are never audited.
  for (const auto& e : audit()) EXPECT_NE(e.value("command_tag", ""), "SELECT") << e.dump();
}

TEST_F(Operations, FailClosedRefusesDdlWhileTheAuditLogCannotBeWritten) {
  // /dev/full: every write fails with ENOSPC, as on a full disk.
  ASSERT_NO_FATAL_FAILURE(start("audit:\n  path: /dev/full\n  fail_closed: true\n"));
  auto c = via_proxy();
  const auto r = c.exec("CREATE TABLE ops_new (id int)");
  EXPECT_EQ(r.sqlstate, "SG001");
  EXPECT_NE(r.message.find("audit log cannot be written"), std::string::npos) << r.message;
  EXPECT_FALSE(table_exists("ops_new")) << "DDL ran although its audit line was not written";
  EXPECT_TRUE(c.exec("SELECT count(*) FROM ops_t").ok) << "ordinary queries are not audited and still run";
  const json m = metrics();
  EXPECT_GE(sample(m, "schemagate_audit_write_failures_total"), 1);
  const auto ready = http("GET", "/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_NE(ready.body.find("/dev/full"), std::string::npos) << ready.body;
}

TEST_F(Operations, WithoutFailClosedAnUnwritableAuditLogDoesNotStopDdl) {
  ASSERT_NO_FATAL_FAILURE(start("audit:\n  path: /dev/full\n"));
  auto c = via_proxy();
  EXPECT_TRUE(c.exec("CREATE TABLE ops_new (id int)").ok);
  EXPECT_TRUE(table_exists("ops_new"));
  EXPECT_EQ(http("GET", "/readyz").status, 200);
}

TEST_F(Operations, ReloadIsSeenByAnOpenSessionAndAnInvalidOneIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto c = via_proxy();
  ASSERT_EQ(c.exec("TRUNCATE ops_keep").sqlstate, "SG001");

  const auto lookups = [&] {
    const auto m = metrics();
    return sample(m, "schemagate_parse_cache_lookups_total{result=hit}") +
           sample(m, "schemagate_parse_cache_lookups_total{result=miss}");
  };
  const auto before_reload = lookups();
  EXPECT_GE(before_reload, 1);

  // SIGHUP with a policy that lets TRUNCATE pass: the same connection sees it.
  write_file(policy_path(), "mode: enforce\nrules:\n  drop_table: hold\n  truncate_table: pass\n");
  ASSERT_EQ(::kill(proxy_->pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return sample(metrics(), "schemagate_config_reloads_total{result=ok}") == 1; }, 30s))
      << proxy_->log();
  const auto after = c.exec("TRUNCATE ops_keep");
  EXPECT_TRUE(after.ok) << after.sqlstate << " " << after.message;
  // Counters never go down: the new engine's parse cache starts empty, its lookups add up.
  EXPECT_GT(lookups(), before_reload);

  // An invalid policy through the API: refused with key and line, the running one stays.
  write_file(policy_path(), "mode: enforce\nrules:\n  drop_tabel: hold\n");
  const auto bad = http("POST", "/v1/reload", kToken);
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_NE(bad.body.find("drop_tabel"), std::string::npos) << bad.body;
  EXPECT_NE(bad.body.find("line 3"), std::string::npos) << bad.body;
  EXPECT_TRUE(c.exec("TRUNCATE ops_keep").ok) << "the refused reload changed the running policy";
  EXPECT_EQ(sample(metrics(), "schemagate_config_reloads_total{result=failed}"), 1);

  // Reload needs a token; a valid one through the API works and names restart-only keys.
  EXPECT_EQ(http("POST", "/v1/reload").status, 401);
  write_file(policy_path(), kPolicy);
  const std::string cfg_path = proxy_->dir() + "/schemagate.yaml";
  write_file(cfg_path, read_file(cfg_path) + "workers: 2\n");
  const auto good = http("POST", "/v1/reload", kToken);
  EXPECT_EQ(good.status, 200) << good.body;
  EXPECT_NE(good.body.find("kept until a restart: workers"), std::string::npos) << good.body;
  EXPECT_EQ(c.exec("TRUNCATE ops_keep").sqlstate, "SG001");
  EXPECT_TRUE(c.exec("SELECT 1").ok) << "the session survived every reload";
}

TEST_F(Operations, JsonDiagnosticLogIsOneValidObjectPerLine) {
  ASSERT_NO_FATAL_FAILURE(start("log:\n  format: json\n"));
  {
    // A quote in a logged value (application_name odd"name): the line must stay valid JSON.
    auto c = via_proxy("application_name='odd\\\"name'");
    ASSERT_TRUE(c.exec("SELECT 1").ok);
  }
  ASSERT_TRUE(eventually([&] { return proxy_->log().find("odd") != std::string::npos; }));
  std::istringstream lines(proxy_->log());
  std::string line;
  int objects = 0;
  bool saw_name = false;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const auto j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("message")) << line;
    saw_name |= j["message"].get<std::string>().find("odd\"name") != std::string::npos;
    ++objects;
  }
  EXPECT_GE(objects, 2);
  EXPECT_TRUE(saw_name) << proxy_->log();
}

TEST_F(Operations, EverySubcommandAnswersHelp) {
  for (const std::string cmd : {"serve", "config", "check", "explain", "plan", "migrations", "requests"}) {
    const auto r = run_command({proxy_binary(), cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.output;
    std::string lower = r.output;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_NE(lower.find("usage:"), std::string::npos) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("schemagate " + cmd), std::string::npos) << cmd << ": " << r.output;
  }
}

}  // namespace
}  // namespace schemagate::testing
