// Session settings that change how the server reads text, attacked through the real proxy
// (built-in policy, enforce mode) in front of a real PostgreSQL 15: standard_conforming_strings
// off and client-only encodings, set beforehand, at startup, through set_config(), or pipelined
// just before the attack. Every attack is also sent, byte for byte, straight to PostgreSQL,
// where it must really drop the table — so a passing test proves the proxy stopped a working
// attack. Then lookalikes that must pass untouched under each setting.
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

// With standard_conforming_strings off, \' escapes the quote: the string is 'a'' and the DROP runs.
const std::string kScsOffAttack = "SELECT 'a\\''; DROP TABLE victim; --'";
// SJIS 0x95 0x5c is one character (表): the backslash escapes nothing, the string ends, the DROP runs.
const std::string kSjisAttack = "SELECT E'\x95\x5c'; DROP TABLE victim; --'";

std::string be16(std::uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string cstring(const std::string& s) { return s + '\0'; }

// Parse/Bind/Execute of an unnamed statement, without its Sync.
std::string extended(const std::string& sql) {
  return wire::message('P', cstring("") + cstring(sql) + be16(0)) +
         wire::message('B', cstring("") + cstring("") + be16(0) + be16(0) + be16(0)) +
         wire::message('E', cstring("") + wire::be32(0));
}
std::string sync() { return wire::message('S', ""); }
std::string flush() { return wire::message('H', ""); }

class BypassSettings : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "enforce";  // the built-in default policy, enforced
    o.config_yaml = "approvals:\n  wait_ms: 200\n  reminder_ms: 100000\n";  // a held statement ends in SG003
    proxy_ = ProxyProcess::start(o);
    reset();
  }

  static void reset() {
    const auto r = direct().exec("DROP TABLE IF EXISTS victim; CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)");
    ASSERT_TRUE(r.ok) << r.message;
  }
  static bool victim_exists() { return direct().scalar("SELECT count(*) FROM pg_class WHERE relname = 'victim'") == "1"; }

  // Runs `steps` on a libpq connection opened with `extra` (proxy or direct); returns the last result.
  static QueryResult run(const std::string& conninfo, const std::vector<std::string>& steps) {
    PgConn c = pq_connect_ok(conninfo);
    QueryResult last;
    for (const auto& s : steps) last = c.exec(s);
    return last;
  }

  // The attack really works without the proxy, and the proxy stops it.
  void expect_stopped(const std::string& extra, const std::vector<std::string>& steps) {
    run(pg_->conninfo(extra), steps);
    EXPECT_FALSE(victim_exists()) << "the attack does not work even without the proxy: " << steps.back();
    reset();
    const auto r = run(proxy_->conninfo(extra), steps);
    EXPECT_TRUE(victim_exists()) << "dropped through the proxy: " << steps.back();
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.sqlstate == "SG003" || r.sqlstate == "SG001") << r.sqlstate << " " << r.message;
  }

  // Raw protocol: `bytes` sent in one write after startup; returns every message up to `readies` 'Z's.
  static std::vector<BackendMessage> pipeline(int port, const std::string& bytes, int readies,
                                              const std::map<std::string, std::string>& params = {}) {
    RawClient c = RawClient::connect(port);
    std::map<std::string, std::string> startup{{"user", "postgres"}, {"database", "postgres"}};
    for (const auto& [k, v] : params) startup[k] = v;
    c.send(wire::startup(startup));
    c.read_until_ready(30s);
    c.send(bytes);
    std::vector<BackendMessage> all;
    for (int i = 0; i < readies; ++i) {
      auto m = c.read_until_ready(30s);
      all.insert(all.end(), m.begin(), m.end());
    }
    c.send(wire::terminate());
    return all;
  }

  void expect_pipeline_stopped(const std::string& bytes, int readies) {
    pipeline(pg_->port(), bytes, readies);
    EXPECT_FALSE(victim_exists()) << "the pipelined attack does not work without the proxy";
    reset();
    const auto msgs = pipeline(proxy_->port(), bytes, readies);
    EXPECT_TRUE(victim_exists()) << "dropped through the proxy";
    const auto err = first_error(msgs);
    ASSERT_TRUE(err.has_value()) << "no error from the proxy";
    EXPECT_TRUE(err->field('C') == "SG003" || err->field('C') == "SG001") << err->field('C') << " " << err->field('M');
  }
};

TEST_F(BypassSettings, StandardConformingStringsOffSetBeforehand) {
  expect_stopped("", {"SET standard_conforming_strings = off", kScsOffAttack});
  reset();
  expect_stopped("", {"SET SESSION standard_conforming_strings TO 'off'", kScsOffAttack});
}

TEST_F(BypassSettings, StandardConformingStringsOffAtStartup) {
  expect_stopped("options='-c standard_conforming_strings=off'", {kScsOffAttack});
}

TEST_F(BypassSettings, StandardConformingStringsOffThroughSetConfig) {
  // An ordinary SELECT changes the setting: only the server's ParameterStatus tells.
  expect_stopped("", {"SELECT set_config('standard_conforming_strings', 'off', false)", kScsOffAttack});
}

TEST_F(BypassSettings, StandardConformingStringsOffPipelinedRightBeforeTheAttack) {
  // Two simple queries in one write: the attack is judged before the SET has been answered.
  expect_pipeline_stopped(wire::query("SET standard_conforming_strings = off") + wire::query(kScsOffAttack), 2);
  reset();
  // The SET through the extended protocol, then the attack.
  expect_pipeline_stopped(extended("SET standard_conforming_strings = off") + sync() + wire::query(kScsOffAttack), 2);
  reset();
  // A Flush instead of a Sync: no ReadyForQuery tells the proxy when the SET has run.
  expect_pipeline_stopped(extended("SET standard_conforming_strings = off") + flush() + wire::query(kScsOffAttack) + sync(), 2);
}

TEST_F(BypassSettings, ClientOnlyEncodingsSwallowTheBackslash) {
  expect_stopped("", {"SET client_encoding = 'SJIS'", kSjisAttack});
  reset();
  expect_stopped("client_encoding=SJIS", {kSjisAttack});
  reset();
  // 許 in BIG5 and a GBK / GB18030 character, each ending in 0x5c.
  expect_stopped("client_encoding=BIG5", {"SELECT E'\xB3\x5c'; DROP TABLE victim; --'"});
  reset();
  expect_stopped("client_encoding=GBK", {"SELECT E'\x81\x5c'; DROP TABLE victim; --'"});
  reset();
  expect_stopped("client_encoding=GB18030", {"SELECT E'\x81\x5c'; DROP TABLE victim; --'"});
}

TEST_F(BypassSettings, ClientEncodingPipelinedRightBeforeTheAttack) {
  expect_pipeline_stopped(wire::query("SET client_encoding = 'SJIS'") + wire::query(kSjisAttack), 2);
}

TEST_F(BypassSettings, SettingsChangedInsideTheSameMessageDoNotApplyToIt) {
  // PostgreSQL reads a whole Query message before it runs any of it: the SET applies to the
  // next message only. The proxy reads it the same way, so this passes and drops nothing.
  const std::string text = "SET standard_conforming_strings = off; " + kScsOffAttack;
  run(pg_->conninfo(), {text});
  EXPECT_TRUE(victim_exists());
  const auto r = run(proxy_->conninfo(), {text});
  EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_TRUE(victim_exists());
}

TEST_F(BypassSettings, LookalikesPassUntouchedUnderEachSetting) {
  struct Case {
    std::string extra;
    std::vector<std::string> steps;
    std::string expect;  // the SELECT's single value
  };
  const std::vector<Case> cases = {
      // scs on: the backslash is a character, the string holds the DDL words.
      {"", {"SELECT 'a\\''; DROP TABLE victim; --' AS v"}, "a\\'; DROP TABLE victim; --"},
      // scs off: the mirror image.
      {"options='-c standard_conforming_strings=off'", {"SELECT 'a\\'; DROP TABLE victim; --' AS v"},
       "a'; DROP TABLE victim; --"},
      {"", {"SELECT E'a\\'; DROP TABLE victim; --' AS v"}, "a'; DROP TABLE victim; --"},
      {"", {"SELECT $q$ DROP TABLE victim; $q$ AS v"}, " DROP TABLE victim; "},
      {"", {"SELECT 1 /* DROP TABLE victim; */ AS v"}, "1"},
      {"", {"SELECT \"DROP TABLE victim\" FROM (SELECT 2 AS \"DROP TABLE victim\") s"}, "2"},
      // SJIS text without an attack: a Japanese string literal.
      {"client_encoding=SJIS", {"SELECT '\x95\x5c' = E'\x95\x5c' AS v"}, "t"},
  };
  for (const auto& c : cases) {
    const auto r = run(proxy_->conninfo(c.extra), c.steps);
    ASSERT_TRUE(r.ok) << c.steps.back() << ": " << r.sqlstate << " " << r.message;
    ASSERT_EQ(r.rows.size(), 1u) << c.steps.back();
    EXPECT_EQ(r.value(), c.expect) << c.steps.back();
    EXPECT_TRUE(victim_exists());
  }
}

TEST_F(BypassSettings, PipelinedHarmlessBackslashTextIsNotRefused) {
  // A pending SET does not make every backslash suspect: this reads the same under any setting.
  const auto msgs =
      pipeline(proxy_->port(), wire::query("SET standard_conforming_strings = off") + wire::query("SELECT 'C:\\temp'"), 2);
  EXPECT_FALSE(first_error(msgs).has_value()) << first_error(msgs)->field('M');
  EXPECT_TRUE(find_message(msgs, 'D').has_value());
}

TEST_F(BypassSettings, ReplicationConnectionsAreJudgedLikeAnyOther) {
  // replication=database connections accept SQL too (and replication commands beside it).
  expect_stopped("replication=database", {"DROP TABLE victim"});
  const auto r = run(proxy_->conninfo("replication=database"), {"IDENTIFY_SYSTEM"});
  EXPECT_TRUE(r.ok) << r.message;  // a replication command passes
}

// ---------------------------------------------------------------- identity and scope

// A policy whose scopes name roles: `app` may never change the schema; `deployer` runs its
// migrations with drop_table passing. Scopes must follow the role statements run as.
class ScopesFollowTheRole : public BypassSettings {
 protected:
  static void SetUpTestSuite() {
    BypassSettings::SetUpTestSuite();
    if (!pg_) return;
    const auto r = direct().exec(
        "CREATE ROLE deployer LOGIN; CREATE ROLE app LOGIN; GRANT deployer TO app; CREATE ROLE ops LOGIN;"
        "GRANT ALL ON SCHEMA public TO deployer");
    ASSERT_TRUE(r.ok) << r.message;
  }
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "enforce";
    o.config_yaml =
        "approvals:\n  wait_ms: 200\n  reminder_ms: 100000\n"
        "policy:\n  scopes:\n"
        "    - {name: app never changes the schema, match: {user: [app]}, action: reject}\n"
        "    - {name: deploys, match: {role: [deployer]}, rules: {drop_table: pass}}\n";
    proxy_ = ProxyProcess::start(o);
    reset();
    ASSERT_TRUE(direct().exec("ALTER TABLE victim OWNER TO deployer").ok);
  }
};

TEST_F(ScopesFollowTheRole, SetRoleToAStricterScopeIsJudgedUnderIt) {
  // deployer may drop; as app (SET ROLE app works for a superuser) it may not.
  const auto r = run(proxy_->conninfo(), {"SET ROLE app", "DROP TABLE victim"});
  EXPECT_EQ(r.sqlstate, "SG001") << r.message;
  EXPECT_NE(r.message.find("app never changes the schema"), std::string::npos) << r.message;
  EXPECT_TRUE(victim_exists());
  // In one message, and through set_config() where no SET is visible.
  EXPECT_EQ(run(proxy_->conninfo(), {"SET ROLE app; DROP TABLE victim"}).sqlstate, "SG001");
  EXPECT_EQ(run(proxy_->conninfo(), {"SELECT set_config('role', 'app', false)", "DROP TABLE victim"}).sqlstate, "SG001");
  EXPECT_EQ(run(proxy_->conninfo(), {"SET SESSION AUTHORIZATION app", "DROP TABLE victim"}).sqlstate, "SG001");
  EXPECT_TRUE(victim_exists());
}

TEST_F(ScopesFollowTheRole, ResetRoleReturnsToTheSessionUsersScope) {
  // postgres has no scope: the built-in policy holds the DROP (SG003 after the short wait).
  const auto r = run(proxy_->conninfo(), {"SET ROLE app", "RESET ROLE", "DROP TABLE victim"});
  EXPECT_EQ(r.sqlstate, "SG003") << r.message;
  EXPECT_TRUE(victim_exists());
}

TEST_F(ScopesFollowTheRole, MembershipReadFromTheServerSelectsRoleScopes) {
  // ops is not a member of deployer: held. After GRANT, its drop passes by the deploys scope.
  EXPECT_EQ(run(proxy_->conninfo("user=ops"), {"DROP TABLE victim"}).sqlstate, "SG003");
  EXPECT_TRUE(victim_exists());
  ASSERT_TRUE(direct().exec("GRANT deployer TO ops").ok);
  const auto r = run(proxy_->conninfo("user=ops"), {"SET ROLE deployer", "DROP TABLE victim"});
  EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_FALSE(victim_exists());
  ASSERT_TRUE(direct().exec("REVOKE deployer FROM ops").ok);
}

}  // namespace
}  // namespace schemagate::testing
