// `schemagate check` and `schemagate explain` end to end: real files, exit codes, output formats.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include "policy/commands/check.h"
#include "policy/commands/explain.h"

namespace schemagate::policy {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string migration(const std::string& name) { return std::string(SG_SOURCE_DIR) + "/tests/policy/migrations/" + name; }

struct Result {
  int code;
  std::string out, err;
};

Result check(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int code = run_check(args, out, err);
  return {code, out.str(), err.str()};
}

Result explain(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int code = run_explain(args, out, err);
  return {code, out.str(), err.str()};
}

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("sg_policy_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return (path_ / name).string();
  }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(CheckCommand, CleanMigrationsExitZero) {
  const auto r = check({migration("0001_create_tables.sql"), migration("0006_lookalikes.sql")});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("2 file(s), 0 finding(s)"), std::string::npos) << r.out;
}

TEST(CheckCommand, RiskyMigrationReportsFileLineColumnRuleAndHint) {
  const auto r = check({migration("0002_risky.sql")});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  const std::string f = migration("0002_risky.sql");
  EXPECT_NE(r.out.find(f + ":2:1: rewrite: require_concurrent_index: CREATE INDEX on orders blocks writes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(f + ":4:1: rewrite: add_column_volatile_default:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(f + ":7:1: rewrite: add_check_constraint:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(f + ":9:1: rewrite: set_not_null:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(f + ":11:1: hold: drop_column:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  hint: CREATE INDEX CONCURRENTLY"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("require_lock_timeout"), std::string::npos) << r.out;
}

TEST(CheckCommand, JsonFormatIsStable) {
  const auto r = check({"--format", "json", migration("0002_risky.sql"), migration("0001_create_tables.sql")});
  EXPECT_EQ(r.code, 1);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["fail_level"], "warn");
  EXPECT_EQ(doc["summary"]["files"], 2);
  EXPECT_EQ(doc["summary"]["errors"], 0);
  ASSERT_TRUE(doc["findings"].is_array());
  const auto& first = doc["findings"][0];
  for (const char* key : {"file", "line", "column", "rule", "action", "fails", "message", "detail", "hint", "statement"})
    EXPECT_TRUE(first.contains(key)) << key;
  EXPECT_EQ(first["rule"], "require_concurrent_index");
  EXPECT_EQ(first["line"], 2);
  EXPECT_EQ(first["statement"], "CREATE INDEX orders_created_idx ON orders (created_at)");
  EXPECT_EQ(doc["summary"]["failing"], doc["findings"].size());
}

TEST(CheckCommand, GithubFormat) {
  const auto r = check({"--format=github", migration("0003_advisory.sql")});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("::error file=" + migration("0003_advisory.sql") + ",line=2,col=1,title=prefer_jsonb::"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("%0Ahint: Use jsonb."), std::string::npos) << r.out;
}

TEST(CheckCommand, SyntaxErrorsReportedWithPosition) {
  const auto r = check({migration("0004_syntax_error.sql")});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(migration("0004_syntax_error.sql") + ":5:1: reject: syntax_error: syntax error: syntax error at or near \"ALTER\""),
            std::string::npos)
      << r.out;
}

TEST(CheckCommand, ConcurrentlyInsideTransactionWrapper) {
  const auto r = check({migration("0005_transaction_wrapped.sql")});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(":3:1: reject: concurrently_in_transaction:"), std::string::npos) << r.out;
}

TEST(CheckCommand, FailLevelAndRuleOverridesComeFromPolicy) {
  TempDir dir;
  const auto lenient = dir.write("p.yaml", "check: {fail_level: reject}\n");
  EXPECT_EQ(check({"--policy", lenient, migration("0003_advisory.sql")}).code, 0);
  EXPECT_EQ(check({"--policy", lenient, migration("0004_syntax_error.sql")}).code, 1);  // syntax errors count as reject
  const auto quiet = dir.write("q.yaml", "rules: {prefer_jsonb: pass, prefer_timestamptz: pass, prefer_bigint_keys: pass, prefer_identity: pass}\n");
  EXPECT_EQ(check({"--policy", quiet, migration("0003_advisory.sql")}).code, 0);
}

TEST(CheckCommand, VersionAndSizeFlags) {
  TempDir dir;
  const auto f = dir.write("m.sql", "SET lock_timeout = '1s';\nALTER TABLE t ADD COLUMN c int DEFAULT 0;\nCREATE INDEX i ON t (c);\n");
  EXPECT_EQ(check({f}).code, 1);                                         // the index
  EXPECT_EQ(check({"--table-rows", "100", f}).code, 0);                  // small table
  auto r = check({"--table-rows", "100", "--pg-version", "10", f});      // PG 10: default rewrites (size-dependent: small, ok)
  EXPECT_EQ(r.code, 0) << r.out;
  r = check({"--pg-version", "10", f});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("add_column_default_pre_pg11"), std::string::npos) << r.out;
  const auto fresh = dir.write("n.sql", "SET lock_timeout = '1s';\nCREATE TABLE n (a int);\nCREATE INDEX ON n (a);\n");
  EXPECT_EQ(check({fresh}).code, 0);
  EXPECT_EQ(check({"--assume-large-tables", fresh}).code, 1);
}

TEST(CheckCommand, ErrorsExitTwo) {
  TempDir dir;
  EXPECT_EQ(check({}).code, 2);
  EXPECT_EQ(check({"--bogus", "x.sql"}).code, 2);
  EXPECT_EQ(check({"--format", "xml", migration("0001_create_tables.sql")}).code, 2);
  EXPECT_EQ(check({"--pg-version", "abc", migration("0001_create_tables.sql")}).code, 2);
  EXPECT_EQ(check({std::string(SG_SOURCE_DIR) + "/tests/policy/migrations"}).code, 2);  // a directory
  auto r = check({"/nonexistent/file.sql"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/nonexistent/file.sql: error: cannot read file"), std::string::npos) << r.err;
  // An unreadable file is an error even when other files have findings.
  EXPECT_EQ(check({migration("0002_risky.sql"), "/nonexistent/file.sql"}).code, 2);
  const auto bad = dir.write("bad.yaml", "rules:\n  no_such_rule: reject\n");
  r = check({"--policy", bad, migration("0001_create_tables.sql")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("rules.no_such_rule (line 2): unknown rule id"), std::string::npos) << r.err;
  EXPECT_EQ(check({"--policy", "/nonexistent/p.yaml", migration("0001_create_tables.sql")}).code, 2);
  EXPECT_EQ(check({"--policy", bad, "--config", bad, migration("0001_create_tables.sql")}).code, 2);
}

TEST(CheckCommand, ProxyConfigWithInlineOrReferencedPolicy) {
  TempDir dir;
  dir.write("policy.yaml", "rules: {drop_column: reject}\n");
  const auto cfg = dir.write("schemagate.yaml", "policy:\n  file: policy.yaml\n");
  auto r = check({"--config", cfg, migration("0002_risky.sql")});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(":11:1: reject: drop_column:"), std::string::npos) << r.out;
  const auto inline_cfg = dir.write("inline.yaml", "policy:\n  rules: {drop_column: warn}\n");
  r = check({"--config", inline_cfg, migration("0002_risky.sql")});
  EXPECT_NE(r.out.find(":11:1: warn: drop_column:"), std::string::npos) << r.out;
  const auto broken = dir.write("broken.yaml", "policy:\n  mode: loud\n");
  EXPECT_EQ(check({"--config", broken, migration("0001_create_tables.sql")}).code, 2);
}

TEST(ExplainCommand, TextShowsDecisionRulesAndPlan) {
  const auto r = explain({"CREATE INDEX orders_created_idx ON orders (created_at)"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("outcome: rewrite (rule require_concurrent_index)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("phase 1/1: build index orders_created_idx concurrently"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CREATE INDEX CONCURRENTLY orders_created_idx ON orders USING btree (created_at)"), std::string::npos);
}

TEST(ExplainCommand, JsonDocument) {
  const auto r = explain({"--format", "json", "--in-transaction", "SELECT 1; ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id)"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["mode"], "enforce");
  EXPECT_EQ(doc["enforced"], true);
  EXPECT_EQ(doc["outcome"], "reject");
  EXPECT_EQ(doc["fast_path"], false);
  ASSERT_EQ(doc["statements"].size(), 2u);
  const auto& s = doc["statements"][1];
  EXPECT_EQ(s["tag"], "ALTER TABLE");
  EXPECT_EQ(s["class"], "ddl");
  EXPECT_EQ(s["outcome"], "reject");
  EXPECT_EQ(s["sqlstate"], "SG005");
  EXPECT_EQ(s["rules"], json::array({"concurrently_in_transaction"}));
  EXPECT_EQ(s["lock"], "SHARE ROW EXCLUSIVE");
  EXPECT_EQ(s["objects"][1]["name"], "u");
  EXPECT_TRUE(s["plan"].is_null());
  EXPECT_TRUE(s["fingerprint"].is_string());
  EXPECT_EQ(doc["statements"][0]["outcome"], "pass");
}

TEST(ExplainCommand, JsonPlanPhases) {
  const auto r = explain({"--format=json", "--pg-version", "15", "ALTER TABLE t ALTER COLUMN c SET NOT NULL"});
  const json doc = json::parse(r.out);
  const auto& plan = doc["statements"][0]["plan"];
  ASSERT_TRUE(plan.is_object()) << r.out;
  EXPECT_EQ(plan["rule"], "set_not_null");
  ASSERT_EQ(plan["phases"].size(), 5u);  // precheck, add helper, validate, SET NOT NULL, drop helper
  const auto& p = plan["phases"][2];
  for (const char* key : {"description", "sql", "outside_transaction", "lock_timeout_ms", "max_attempts", "backoff_ms",
                          "repeat_until_no_rows", "on_failure_sql"})
    EXPECT_TRUE(p.contains(key)) << key;
  EXPECT_EQ(p["sql"], "ALTER TABLE t VALIDATE CONSTRAINT schemagate_t_c_not_null");
  EXPECT_EQ(p["outside_transaction"], true);
  EXPECT_EQ(p["lock_timeout_ms"], 2000);
}

TEST(ExplainCommand, FastPathAndErrors) {
  auto r = explain({"--format", "json", "SELECT 'DROP TABLE x'"});
  EXPECT_EQ(json::parse(r.out)["fast_path"], true);
  EXPECT_EQ(explain({}).code, 2);
  EXPECT_EQ(explain({"a", "b"}).code, 2);
  EXPECT_EQ(explain({"--format", "github", "SELECT 1"}).code, 2);
  r = explain({"--format", "json", "CREATE TABLEX t"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(json::parse(r.out)["syntax_error"]["line"], 1);
}

// The CLI driver (same dispatch as the `schemagate` executable) returns the same exit codes.
TEST(PolicyCli, ProcessExitCodes) {
  auto run = [](const std::string& args) {
    const int st = std::system((std::string(SG_POLICY_CLI) + " " + args + " > /dev/null 2>&1").c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  };
  EXPECT_EQ(run("check " + migration("0001_create_tables.sql")), 0);
  EXPECT_EQ(run("check " + migration("0002_risky.sql")), 1);
  EXPECT_EQ(run("check /nonexistent.sql"), 2);
  EXPECT_EQ(run("explain 'DROP TABLE t'"), 0);
}

}  // namespace
}  // namespace schemagate::policy
