// The policy YAML schema (config/policy_*): values, errors with key and line, the example file.
#include <gtest/gtest.h>

#include "config/loader.h"
#include "config/policy_section.h"
#include "policy/engine.h"
#include "policy/rules.h"

#include <fstream>
#include <set>
#include <sstream>

namespace schemagate::policy {
namespace {

std::string errors_of(const config::PolicyLoadResult& r) { return r.error_text("policy.yaml"); }

TEST(PolicyConfig, FullDocument) {
  const auto r = load_policy_text(R"(
mode: observe
default_action: warn
unparsable: hold
check: {fail_level: hold}
thresholds:
  small_table_rows: 500
  lock_timeout: 1500ms
  retry_attempts: 3
  retry_backoff: 1s
  backfill_batch_rows: 2000
  backfill_pause: 50ms
  backfill_max_replica_lag: 64MB
  max_index_columns: 4
rules:
  drop_table: reject
  require_lock_timeout: pass
scopes:
  - name: dba
    match: {role: [dba, admin]}
    action: pass
  - match: {user: migrator, table: "orders*", application_name: "flyway*", database: prod}
    rules: {drop_column: warn}
    default_action: hold
)");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  const auto& p = r.policy;
  EXPECT_EQ(p.mode, config::PolicyMode::observe);
  EXPECT_EQ(p.default_action, Outcome::warn);
  EXPECT_EQ(p.unparsable, Outcome::hold);
  EXPECT_EQ(p.check_fail_level, Outcome::hold);
  EXPECT_EQ(p.thresholds.small_table_rows, 500u);
  EXPECT_EQ(p.thresholds.lock_timeout_ms, 1500u);
  EXPECT_EQ(p.thresholds.retry_attempts, 3u);
  EXPECT_EQ(p.thresholds.retry_backoff_ms, 1000u);
  EXPECT_EQ(p.thresholds.backfill_batch_rows, 2000u);
  EXPECT_EQ(p.thresholds.backfill_pause_ms, 50u);
  EXPECT_EQ(p.thresholds.backfill_max_replica_lag_bytes, 64ULL << 20);
  EXPECT_EQ(p.thresholds.max_index_columns, 4u);
  EXPECT_EQ(p.rules.at("drop_table"), Outcome::reject);
  ASSERT_EQ(p.scopes.size(), 2u);
  EXPECT_EQ(p.scopes[0].match.roles, (std::vector<std::string>{"dba", "admin"}));
  EXPECT_EQ(p.scopes[0].action, Outcome::pass);
  EXPECT_EQ(p.scopes[1].match.users, std::vector<std::string>{"migrator"});
  EXPECT_EQ(p.scopes[1].match.tables, std::vector<std::string>{"orders*"});
  EXPECT_EQ(p.scopes[1].rules.at("drop_column"), Outcome::warn);
  EXPECT_EQ(p.scopes[1].default_action, Outcome::hold);
}

TEST(PolicyConfig, EmptyDocumentIsTheSafeDefault) {
  const auto r = load_policy_text("");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.policy.mode, config::PolicyMode::enforce);
  EXPECT_TRUE(r.policy.rules.empty());
  EXPECT_EQ(r.policy.thresholds.backfill_pause_ms, 0u);
  EXPECT_EQ(r.policy.thresholds.backfill_max_replica_lag_bytes, 128ULL << 20);  // on unless turned off
}

TEST(PolicyConfig, SizesTakePostgresUnits) {
  std::uint64_t b = 1;
  EXPECT_TRUE(config::parse_size_bytes("0", b));
  EXPECT_EQ(b, 0u);
  EXPECT_TRUE(config::parse_size_bytes("512kB", b));
  EXPECT_EQ(b, 512u * 1024);
  EXPECT_TRUE(config::parse_size_bytes("2GB", b));
  EXPECT_EQ(b, 2ULL << 30);
  EXPECT_TRUE(config::parse_size_bytes("4096", b));
  EXPECT_EQ(b, 4096u);
  for (const char* bad : {"", "MB", "12 MB", "1mb", "-1", "99999999999TB", "1.5GB"})
    EXPECT_FALSE(config::parse_size_bytes(bad, b)) << bad;
}

struct BadCase {
  const char* yaml;
  const char* key;
  int line;
  const char* says;
};

TEST(PolicyConfig, ErrorsNameDottedKeyAndLine) {
  const BadCase cases[] = {
      {"mode: sometimes\n", "mode", 1, "observe | enforce"},
      {"mode: enforce\ncolour: blue\n", "colour", 2, "unknown key"},
      {"thresholds:\n  lock_timeout: soon\n", "thresholds.lock_timeout", 2, "duration"},
      {"thresholds:\n  small_table_rows: -5\n", "thresholds.small_table_rows", 2, "integer"},
      {"thresholds:\n  retry_attempts: 0\n", "thresholds.retry_attempts", 2, "from 1"},
      {"thresholds:\n  lock_timout: 1s\n", "thresholds.lock_timout", 2, "unknown key"},
      {"thresholds:\n  backfill_max_replica_lag: lots\n", "thresholds.backfill_max_replica_lag", 2, "size such as"},
      {"thresholds:\n  backfill_pause: later\n", "thresholds.backfill_pause", 2, "duration"},
      {"rules:\n  drop_table: block\n", "rules.drop_table", 2, "pass | warn"},
      {"rules:\n  dorp_table: reject\n", "rules.dorp_table", 2, "unknown rule id"},
      {"rules: [drop_table]\n", "rules", 1, "mapping"},
      {"scopes:\n  - match: {user: app}\n    action: nope\n", "scopes[0].action", 3, "pass | warn"},
      {"scopes:\n  - match: {usr: app}\n", "scopes[0].match.usr", 2, "unknown key"},
      {"scopes:\n  - name: x\n  - match: {user: app}\n    rules: {drop_tabel: warn}\n", "scopes[1].rules.drop_tabel", 4, "unknown rule id"},
      {"scopes:\n  - action: pass\n    rules: {drop_table: warn}\n", "scopes[0].action", 2, "cannot also"},
      {"scopes: {a: 1}\n", "scopes", 1, "list"},
      {"check:\n  fail_level: maybe\n", "check.fail_level", 2, "pass | warn"},
      {"default_action: [x]\n", "default_action", 1, "expected one of"},
  };
  for (const auto& c : cases) {
    const auto r = load_policy_text(c.yaml);
    ASSERT_FALSE(r.ok()) << c.yaml;
    bool found = false;
    for (const auto& e : r.errors)
      if (e.key == c.key && e.line == c.line && e.message.find(c.says) != std::string::npos) found = true;
    EXPECT_TRUE(found) << c.yaml << "\n got: " << errors_of(r);
  }
}

TEST(PolicyConfig, InvalidYamlAndUnreadableFile) {
  EXPECT_FALSE(load_policy_text("mode: [unclosed\n").ok());
  const auto r = load_policy_file("/nonexistent/policy.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("cannot read"), std::string::npos);
}

TEST(PolicyConfig, Durations) {
  std::uint32_t ms = 0;
  EXPECT_TRUE(config::parse_duration_ms("250", ms));
  EXPECT_EQ(ms, 250u);
  EXPECT_TRUE(config::parse_duration_ms("3s", ms));
  EXPECT_EQ(ms, 3000u);
  EXPECT_TRUE(config::parse_duration_ms("2min", ms));
  EXPECT_EQ(ms, 120000u);
  EXPECT_FALSE(config::parse_duration_ms("2 s", ms));
  EXPECT_FALSE(config::parse_duration_ms("s", ms));
  EXPECT_FALSE(config::parse_duration_ms("99999999999s", ms));
}

TEST(PolicyConfig, ProxyConfigReferenceAndInlinePolicy) {
  auto r = config::load_config_text("policy:\n  file: /etc/schemagate/policy.yaml\n  mode: observe\n");
  ASSERT_TRUE(r.ok()) << r.error_text("cfg");
  EXPECT_EQ(r.config.policy.file, "/etc/schemagate/policy.yaml");
  EXPECT_EQ(r.config.policy.mode, config::PolicyMode::observe);
  EXPECT_FALSE(r.config.policy.inline_policy);

  r = config::load_config_text("policy:\n  rules:\n    drop_table: reject\n  thresholds: {lock_timeout: 3s}\n");
  ASSERT_TRUE(r.ok()) << r.error_text("cfg");
  ASSERT_TRUE(r.config.policy.inline_policy);
  EXPECT_FALSE(r.config.policy.mode);  // unset: the policy's own mode applies
  EXPECT_EQ(r.config.policy.inline_policy->rules.at("drop_table"), Outcome::reject);
  EXPECT_EQ(r.config.policy.inline_policy->thresholds.lock_timeout_ms, 3000u);
  // Rule ids of an inline policy are checked by sg_policy, with the full key.
  config::Policy p = *r.config.policy.inline_policy;
  p.rules["nope"] = Outcome::warn;
  p.rule_lines["nope"] = 7;
  const auto errs = validate_policy(p);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].key, "policy.rules.nope");
  EXPECT_EQ(errs[0].line, 7);

  r = config::load_config_text("policy:\n  file: p.yaml\n  rules: {drop_table: pass}\n");
  EXPECT_FALSE(r.ok());
  r = config::load_config_text("policy:\n  thresholds:\n    lock_timeout: never\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].key, "policy.thresholds.lock_timeout");
  EXPECT_EQ(r.errors[0].line, 3);
}

TEST(PolicyConfig, ExamplePolicyLoadsAndIsSafe) {
  const auto r = load_policy_file(std::string(SG_SOURCE_DIR) + "/deploy/policy.example.yaml");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.policy.mode, config::PolicyMode::observe);
  EXPECT_FALSE(r.policy.scopes.empty());
  PolicyEngine engine{r.policy};
  SessionInfo app;
  app.user = "app";
  EXPECT_EQ(engine.evaluate("DROP TABLE t", app, nullptr).outcome, Outcome::reject);
  EXPECT_FALSE(engine.evaluate("DROP TABLE t", app, nullptr).enforced);  // observe mode
  SessionInfo dba;
  dba.user = "alice";
  dba.roles = {"dba"};
  EXPECT_EQ(engine.evaluate("VACUUM FULL t", dba, nullptr).outcome, Outcome::pass);
}

TEST(PolicyConfig, EveryCatalogueRuleHasTextAndUniqueId) {
  std::set<std::string_view> ids;
  for (const auto& r : rule_catalogue()) {
    EXPECT_TRUE(ids.insert(r.id).second) << r.id;
    EXPECT_FALSE(r.why.empty()) << r.id;
    EXPECT_FALSE(r.alternative.empty()) << r.id;
    for (char c : r.id) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9')) << r.id;
  }
  EXPECT_GE(ids.size(), 40u);
}

}  // namespace
}  // namespace schemagate::policy

namespace schemagate::policy {
namespace {

// docs/rules.md stays in step with the catalogue.
TEST(PolicyConfig, RulesDocListsEveryRule) {
  std::ifstream in(std::string(SG_SOURCE_DIR) + "/docs/rules.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  ASSERT_FALSE(doc.empty());
  for (const auto& r : rule_catalogue())
    EXPECT_NE(doc.find("| `" + std::string(r.id) + "` | " + outcome_name(r.default_action) + " |"), std::string::npos)
        << r.id << " missing or with a different default in docs/rules.md";
}

}  // namespace
}  // namespace schemagate::policy
