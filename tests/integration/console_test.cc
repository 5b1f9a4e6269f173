// The admin console: `psql dbname=schemagate` as a user listed in admin.users, authenticated
// by the upstream (SCRAM here), answered by the proxy. Every command through the real psql,
// against the real binary and a real PostgreSQL 15.
#include <fstream>
#include <future>
#include <sstream>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

const std::string kAdminPassword = "console-pw-0123";

class Console : public ProxiedPg {
 protected:
  static void SetUpTestSuite() {
    // postgres (the test's own connections) is trusted; every other user needs a SCRAM password.
    PgClusterOptions o;
    o.hba = {"local all all trust", "host all postgres 127.0.0.1/32 trust", "host all all 127.0.0.1/32 scram-sha-256"};
    StartCluster(std::move(o));
    if (!pg_) return;
    auto c = direct();
    c.exec("DROP ROLE IF EXISTS dba_ann");
    c.exec("DROP ROLE IF EXISTS app_bob");
    c.exec("CREATE ROLE dba_ann LOGIN PASSWORD '" + kAdminPassword + "'");
    c.exec("CREATE ROLE app_bob LOGIN PASSWORD 'bob-pw'");
  }

  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    auto c = direct();
    ASSERT_TRUE(c.exec("DROP TABLE IF EXISTS con_t, con_drop1, con_drop2, con_new; "
                       "CREATE TABLE con_t (id int PRIMARY KEY, v int); "
                       "INSERT INTO con_t SELECT g, g FROM generate_series(1, 100) g; "
                       "CREATE TABLE con_drop1 (id int); CREATE TABLE con_drop2 (id int)")
                    .ok);
    write_file(policy_path(), "mode: enforce\nrules:\n  drop_table: hold\n  truncate_table: reject\n");
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "";
    o.config_yaml = "admin:\n  users: [dba_ann]\n"
                    "approvals:\n  wait_ms: 60000\n  store: {path: \"" + dir_.file("approvals.db") + "\"}\n"
                    "state:\n  path: \"" + dir_.file("state.db") + "\"\n"
                    "policy:\n  file: \"" + policy_path() + "\"\n";
    proxy_ = ProxyProcess::start(o);
  }

  std::string policy_path() const { return dir_.file("policy.yaml"); }

  /// psql on the console as `user`; stdout (aligned tables unless `flags` say otherwise) and,
  /// apart, stderr.
  CommandResult psql(const std::string& command, const std::string& flags = "", const std::string& user = "dba_ann",
                     const std::string& password = kAdminPassword) const {
    const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(proxy_->port()) +
                                 " dbname=schemagate sslmode=disable user=" + user + " password=" + password;
    std::vector<std::string> argv = {std::string(SG_PG_BINDIR) + "/psql", "-X", "-v", "ON_ERROR_STOP=1"};
    if (!flags.empty()) argv.push_back(flags);
    argv.insert(argv.end(), {"-d", conninfo, "-c", command});
    return run_command_split(argv, 60s);
  }
  /// Unaligned, tuples only, '|' between fields: one line per row.
  std::vector<std::vector<std::string>> rows(const std::string& command) const {
    const auto r = psql(command, "-Atq");
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.errors;
    std::vector<std::vector<std::string>> out;
    std::istringstream in(r.output);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> fields;
      std::size_t at = 0;
      for (;;) {
        const auto bar = line.find('|', at);
        fields.push_back(line.substr(at, bar == std::string::npos ? std::string::npos : bar - at));
        if (bar == std::string::npos) break;
        at = bar + 1;
      }
      out.push_back(std::move(fields));
    }
    return out;
  }
  /// The value column of a two-column (key, value, ...) listing.
  std::string lookup(const std::string& command, const std::string& key) const {
    for (const auto& row : rows(command))
      if (row.size() >= 2 && row[0] == key) return row[1];
    return "<missing>";
  }
  /// The id of the one pending request (waits for it to appear).
  std::string pending_id() const {
    std::string id;
    eventually([&] {
      const auto r = rows("SHOW REQUESTS pending");
      if (r.size() == 1 && !r[0].empty()) id = r[0][0];
      return !id.empty();
    }, 60s);
    return id;
  }
  static bool table_exists(const std::string& name) {
    return direct().scalar("SELECT count(*) FROM pg_class WHERE relname = '" + name + "'") == "1";
  }

  TempDir dir_{"sg-console"};
};

TEST_F(Console, OnlyAdminUsersWithTheRightPasswordGetIn) {
  const auto ok = psql("SHOW VERSION");
  ASSERT_EQ(ok.exit_code, 0) << ok.errors;
  // psql prints a real result set: header, rule, row, row count.
  EXPECT_NE(ok.output.find(" version"), std::string::npos) << ok.output;
  const auto version = run_command_split({proxy_binary(), "--version"});
  ASSERT_EQ(version.exit_code, 0);
  std::string expected = version.output;  // "schemagate X.Y.Z\n"
  while (!expected.empty() && expected.back() == '\n') expected.pop_back();
  EXPECT_NE(ok.output.find(" " + expected + "\n"), std::string::npos) << ok.output << " / " << expected;
  EXPECT_NE(ok.output.find("(1 row)"), std::string::npos) << ok.output;

  // The upstream checks the password: a wrong one is PostgreSQL's own refusal.
  const auto wrong = psql("SHOW VERSION", "", "dba_ann", "not-the-password");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.errors.find("password authentication failed for user \"dba_ann\""), std::string::npos)
      << wrong.errors;
  // A real user with the right password, but not in admin.users, is refused before any
  // connection to the database.
  const auto bob = psql("SHOW VERSION", "", "app_bob", "bob-pw");
  EXPECT_NE(bob.exit_code, 0);
  EXPECT_NE(bob.errors.find("may not use the schemagate admin console (admin.users)"), std::string::npos)
      << bob.errors;
  // Without the console database the same user reaches PostgreSQL as usual.
  auto bob_db = pq_connect_ok("host=127.0.0.1 port=" + std::to_string(proxy_->port()) +
                              " dbname=postgres sslmode=disable user=app_bob password=bob-pw");
  EXPECT_EQ(bob_db.scalar("SELECT current_user"), "app_bob");
}

TEST_F(Console, ShowsClientsServersStatsConfigAndHelp) {
  auto peer = via_proxy("application_name=console-peer");
  const std::string peer_pid = peer.scalar("SELECT pg_backend_pid()");
  ASSERT_FALSE(peer_pid.empty());

  bool peer_seen = false, console_seen = false;
  for (const auto& r : rows("SHOW CLIENTS")) {
    ASSERT_EQ(r.size(), 10u);
    if (r[3] == "console-peer") {
      peer_seen = true;
      EXPECT_EQ(r[1], "postgres");
      EXPECT_EQ(r[2], "postgres");
      EXPECT_EQ(r[6], "relaying");
      EXPECT_EQ(r[7], "I");
    }
    if (r[2] == "schemagate") {
      console_seen = true;
      EXPECT_EQ(r[1], "dba_ann");
      EXPECT_EQ(r[6], "console");
    }
  }
  EXPECT_TRUE(peer_seen);
  EXPECT_TRUE(console_seen);

  bool backend_seen = false;
  for (const auto& r : rows("SHOW SERVERS")) {
    ASSERT_EQ(r.size(), 8u);
    EXPECT_NE(r[3], "schemagate") << "a console session keeps no server connection";
    if (r[1] == peer_pid) backend_seen = true;
  }
  EXPECT_TRUE(backend_seen) << "the peer's backend pid " << peer_pid << " is not in SHOW SERVERS";

  EXPECT_GE(std::stoll(lookup("SHOW STATS", "client_connections_total")), 2);
  EXPECT_GE(std::stoll(lookup("SHOW STATS", "client_connections_open")), 2);
  EXPECT_EQ(lookup("SHOW STATS", "ddl_paused"), "0");
  EXPECT_EQ(lookup("SHOW CONFIG", "admin.users"), "dba_ann");
  EXPECT_EQ(lookup("SHOW CONFIG", "upstream"), "127.0.0.1:" + std::to_string(pg_->port()));
  EXPECT_NE(lookup("SHOW HELP", "SHOW REQUESTS [status]"), "<missing>");
  // Several commands in one query, as psql -c sends them: each its own result.
  EXPECT_EQ(rows("SHOW VERSION; SHOW VERSION").size(), 2u);

  const auto unknown = psql("SELECT 1");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.errors.find("unknown command \"SELECT\""), std::string::npos) << unknown.errors;
  const auto bad = psql("SHOW REQUEST 'unterminated");
  EXPECT_NE(bad.errors.find("unterminated quoted string"), std::string::npos) << bad.errors;

  // The extended protocol gets a clear error, and the connection stays usable.
  auto console = pq_connect_ok("host=127.0.0.1 port=" + std::to_string(proxy_->port()) +
                               " dbname=schemagate sslmode=disable user=dba_ann password=" + kAdminPassword);
  const auto ext = console.exec_params("SHOW VERSION", {});
  EXPECT_EQ(ext.sqlstate, "0A000") << ext.message;
  const auto simple = console.exec("SHOW VERSION");
  ASSERT_TRUE(simple.ok) << simple.message;
  EXPECT_EQ(simple.columns, std::vector<std::string>{"version"});
}

TEST_F(Console, ApprovesAndDeniesHeldStatements) {
  // A held DROP TABLE waits on its own connection while the console decides.
  auto held = std::async(std::launch::async, [this] { return via_proxy().exec("DROP TABLE con_drop1"); });
  const std::string id = pending_id();
  ASSERT_EQ(id.size(), 16u) << "no pending request appeared";
  EXPECT_EQ(lookup("SHOW REQUEST '" + id + "'", "statement"), "DROP TABLE con_drop1");
  EXPECT_EQ(lookup("SHOW REQUEST '" + id + "'", "status"), "pending");
  EXPECT_EQ(lookup("SHOW REQUEST '" + id + "'", "rule"), "drop_table");

  // DENY needs a reason; APPROVE records the console user as the approver.
  const auto no_reason = psql("DENY '" + id + "'");
  EXPECT_NE(no_reason.errors.find("DENY needs a non-empty reason"), std::string::npos) << no_reason.errors;
  const auto approved = rows("APPROVE '" + id + "' REASON 'ticket 42'");
  ASSERT_EQ(approved.size(), 1u);
  EXPECT_EQ(approved[0][1], "approved");
  ASSERT_EQ(held.wait_for(60s), std::future_status::ready);
  const auto done = held.get();
  EXPECT_TRUE(done.ok) << done.sqlstate << " " << done.message;
  EXPECT_FALSE(table_exists("con_drop1"));
  const auto votes = rows("SHOW REQUEST '" + id + "'");
  bool vote_seen = false;
  for (const auto& r : votes)
    if (r[0] == "vote" && r[1].find("dba_ann approved") != std::string::npos &&
        r[1].find("ticket 42") != std::string::npos)
      vote_seen = true;
  EXPECT_TRUE(vote_seen);
  // Deciding otherwise afterwards is a conflict, said as such (the same vote again is idempotent).
  const auto again = psql("DENY '" + id + "' REASON 'too late'");
  EXPECT_NE(again.errors.find("is no longer pending"), std::string::npos) << again.errors;

  auto denied_client = std::async(std::launch::async, [this] { return via_proxy().exec("DROP TABLE con_drop2"); });
  const std::string id2 = pending_id();
  ASSERT_EQ(id2.size(), 16u);
  EXPECT_EQ(rows("DENY '" + id2 + "' REASON 'not during business hours'")[0][1], "denied");
  ASSERT_EQ(denied_client.wait_for(60s), std::future_status::ready);
  const auto refused = denied_client.get();
  EXPECT_EQ(refused.sqlstate, "SG002") << refused.message;
  EXPECT_NE(refused.message.find("dba_ann"), std::string::npos) << refused.message;
  EXPECT_TRUE(table_exists("con_drop2"));

  const auto missing = psql("SHOW REQUEST '0123456789abcdef'");
  EXPECT_NE(missing.errors.find("no such request"), std::string::npos) << missing.errors;
}

TEST_F(Console, ShowMigrationsListsThePlansRun) {
  auto c = via_proxy();
  const auto idx = c.exec("CREATE INDEX con_t_v ON con_t (v)");  // rewritten: CONCURRENTLY, journaled
  ASSERT_TRUE(idx.ok) << idx.sqlstate << " " << idx.message;
  const auto plans = rows("SHOW MIGRATIONS");
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0][1], "succeeded");
  EXPECT_EQ(plans[0][2], "postgres");
  EXPECT_EQ(plans[0].back(), "CREATE INDEX con_t_v ON con_t (v)");
}

TEST_F(Console, PauseRefusesNewDdlUntilResume) {
  auto c = via_proxy();
  ASSERT_EQ(psql("PAUSE").exit_code, 0);
  EXPECT_EQ(lookup("SHOW STATS", "ddl_paused"), "1");
  const auto paused = c.exec("CREATE TABLE con_new (id int)");
  EXPECT_EQ(paused.sqlstate, "SG001");
  EXPECT_NE(paused.message.find("paused by an administrator"), std::string::npos) << paused.message;
  EXPECT_FALSE(table_exists("con_new"));
  EXPECT_EQ(c.scalar("SELECT count(*) FROM con_t"), "100") << "ordinary queries keep running while paused";
  ASSERT_EQ(psql("RESUME").exit_code, 0);
  EXPECT_TRUE(c.exec("CREATE TABLE con_new (id int)").ok);
  EXPECT_TRUE(table_exists("con_new"));
}

TEST_F(Console, ReloadAppliesAValidPolicyAndRefusesABrokenOne) {
  auto c = via_proxy();
  EXPECT_EQ(c.exec("TRUNCATE con_t").sqlstate, "SG001");
  write_file(policy_path(), "mode: enforce\nrules:\n  drop_table: hold\n  truncate_table: maybe\n");
  const auto broken = psql("RELOAD");
  EXPECT_NE(broken.exit_code, 0);
  EXPECT_NE(broken.errors.find("reload refused"), std::string::npos) << broken.errors;
  EXPECT_NE(broken.errors.find("truncate_table"), std::string::npos) << broken.errors;
  EXPECT_EQ(c.exec("TRUNCATE con_t").sqlstate, "SG001") << "the running policy stays after a refused reload";

  write_file(policy_path(), "mode: enforce\nrules:\n  drop_table: hold\n  truncate_table: pass\n");
  const auto ok = psql("RELOAD");
  ASSERT_EQ(ok.exit_code, 0) << ok.errors;
  const auto truncated = c.exec("TRUNCATE con_t");  // the same open session, no reconnect
  EXPECT_TRUE(truncated.ok) << truncated.sqlstate << " " << truncated.message;
}

}  // namespace
}  // namespace schemagate::testing
