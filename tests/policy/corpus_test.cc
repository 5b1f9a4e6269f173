// Table-driven golden cases: tests/policy/cases/*.yaml (sql → expected outcome, rules, plan).
// The format is documented at the top of tests/policy/cases/README.md.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "policy/engine.h"
#include "policy/rules.h"

namespace schemagate::policy {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string file;
  int line = 0;
  std::string name;
  YAML::Node node;
  std::shared_ptr<const PolicyEngine> engine;
};

std::vector<std::string> strings(const YAML::Node& n) {
  std::vector<std::string> out;
  if (!n.IsDefined() || n.IsNull()) return out;
  if (n.IsScalar()) return {n.Scalar()};
  for (const auto& x : n) out.push_back(x.Scalar());
  return out;
}

std::vector<Case> load_cases() {
  std::vector<Case> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(SG_SOURCE_DIR) / "tests/policy/cases"))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    YAML::Node doc = YAML::LoadFile(f.string());
    config::Policy policy;
    if (doc["policy"]) {
      std::stringstream ss;
      ss << doc["policy"];
      auto r = load_policy_text(ss.str());
      EXPECT_TRUE(r.ok()) << f << ": " << r.error_text("policy");
      policy = r.policy;
    }
    auto engine = std::make_shared<const PolicyEngine>(policy);
    const YAML::Node defaults = doc["defaults"];
    for (const auto& c : doc["cases"]) {
      Case k;
      k.file = f.filename().string();
      k.line = c.Mark().line + 1;
      k.name = c["name"] ? c["name"].Scalar() : c["sql"].Scalar();
      k.node = YAML::Clone(c);
      if (defaults)
        for (const auto& kv : defaults)
          if (!k.node["options"] || !k.node["options"][kv.first.Scalar()]) k.node["options"][kv.first.Scalar()] = kv.second;
      k.engine = engine;
      out.push_back(std::move(k));
    }
  }
  return out;
}

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = load_cases();
  return cases;
}

struct CaseRun {
  BatchDecision decision;
};

CaseRun run_case(const Case& c) {
  const auto& n = c.node;
  const YAML::Node o = n["options"];
  OfflineFacts::Options fo;
  SessionInfo s;
  bool script = false;
  if (o) {
    if (o["pg_version"]) fo.server_version_num = parse_pg_version(o["pg_version"].Scalar());
    if (o["table_rows"]) fo.table_rows = o["table_rows"].as<std::int64_t>();
    if (o["assume_large_tables"]) fo.assume_large_tables = o["assume_large_tables"].as<bool>();
    if (o["in_transaction"] && o["in_transaction"].as<bool>()) s.tx_status = 'T';
    if (o["lock_timeout_set"]) s.lock_timeout_set = o["lock_timeout_set"].as<bool>();
    if (o["user"]) s.user = o["user"].Scalar();
    if (o["roles"]) s.roles = strings(o["roles"]);
    if (o["database"]) s.database = o["database"].Scalar();
    if (o["application_name"]) s.application_name = o["application_name"].Scalar();
    if (o["script"]) script = o["script"].as<bool>();
    if (o["standard_conforming_strings"])
      s.lexical.standard_conforming_strings = o["standard_conforming_strings"].as<bool>();
    if (o["client_encoding"]) s.lexical.encoding = client_encoding_named(o["client_encoding"].Scalar());
    if (o["settings_may_change"]) s.replies_pending = o["settings_may_change"].as<bool>();
  }
  s.server_version_num = fo.server_version_num;
  OfflineFacts facts(fo);
  const std::string sql = n["sql"].Scalar();
  CaseRun r;
  r.decision = script ? c.engine->evaluate_script(sql, s, &facts) : c.engine->evaluate(sql, s, &facts);
  return r;
}

class CorpusTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(CorpusTest, MatchesExpectation) {
  const Case& c = all_cases()[GetParam()];
  SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + " " + c.name);
  const auto& n = c.node;
  const CaseRun r = run_case(c);
  const auto& d = r.decision;
  // The statement whose decision the case's rules/phases/sqlstate talk about: the decisive one.
  const int idx = d.decisive_index();
  const StatementDecision* sd = idx >= 0 ? &d.statements[static_cast<std::size_t>(idx)] : nullptr;

  std::string dump;
  for (const auto& st : d.statements) {
    dump += "\n  [" + std::string(outcome_name(st.outcome)) + "] " + st.statement.text + " rules:";
    for (const auto& id : st.rule_ids) dump += " " + id;
    dump += " findings:";
    for (const auto& f : st.findings) dump += " " + f.rule_id + "=" + outcome_name(f.action);
    if (st.plan)
      for (const auto& p : st.plan->phases) dump += "\n      phase: " + p.sql;
  }
  SCOPED_TRACE("decision:" + dump);

  EXPECT_EQ(outcome_name(d.outcome), n["outcome"].Scalar());
  if (n["rules"]) {
    std::vector<std::string> want = strings(n["rules"]);
    std::vector<std::string> got = sd ? sd->rule_ids : std::vector<std::string>{};
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, want);
  }
  if (n["findings"]) {
    std::set<std::string> want, got;
    for (const auto& s : strings(n["findings"])) want.insert(s);
    for (const auto& st : d.statements)
      for (const auto& f : st.findings) got.insert(f.rule_id);
    EXPECT_EQ(got, want);
  }
  if (n["no_findings"]) {
    for (const auto& id : strings(n["no_findings"]))
      for (const auto& st : d.statements)
        for (const auto& f : st.findings) EXPECT_NE(f.rule_id, id);
  }
  if (n["statements"]) {
    std::vector<std::string> got;
    for (const auto& st : d.statements) got.push_back(outcome_name(st.outcome));
    EXPECT_EQ(got, strings(n["statements"]));
  }
  if (n["fast_path"]) {
    EXPECT_EQ(d.fast_path, n["fast_path"].as<bool>());
  }
  if (n["sqlstate"]) {
    ASSERT_NE(sd, nullptr);
    EXPECT_EQ(sd->sqlstate, n["sqlstate"].Scalar());
  }
  if (n["phases"]) {
    ASSERT_NE(sd, nullptr);
    ASSERT_TRUE(sd->plan.has_value());
    std::vector<std::string> got;
    for (const auto& p : sd->plan->phases) got.push_back(p.sql);
    EXPECT_EQ(got, strings(n["phases"]));
  }
  if (n["phase_count"]) {
    ASSERT_NE(sd, nullptr);
    ASSERT_TRUE(sd->plan.has_value());
    EXPECT_EQ(sd->plan->phases.size(), n["phase_count"].as<std::size_t>());
  }
  if (n["tag"]) {
    ASSERT_FALSE(d.statements.empty());
    EXPECT_EQ((sd ? sd : &d.statements.front())->statement.tag, n["tag"].Scalar());
  }
  if (n["lock"]) {
    ASSERT_FALSE(d.statements.empty());
    EXPECT_EQ(lock_name((sd ? sd : &d.statements.front())->statement.lock), n["lock"].Scalar());
  }
  if (n["objects"]) {
    std::vector<std::string> got;
    for (const auto& st : d.statements)
      for (const auto& o : st.statement.objects) got.push_back(o.display());
    EXPECT_EQ(got, strings(n["objects"]));
  }
  if (n["syntax_error"]) {
    EXPECT_EQ(d.syntax_error.has_value(), n["syntax_error"].as<bool>());
  }
  if (n["scope"]) {
    ASSERT_FALSE(d.statements.empty());
    EXPECT_EQ((sd ? sd : &d.statements.front())->scope, n["scope"].Scalar());
  }
  if (n["message_contains"]) {
    ASSERT_NE(sd, nullptr);
    EXPECT_NE(sd->message.find(n["message_contains"].Scalar()), std::string::npos) << sd->message;
  }
}

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) {
  const Case& c = all_cases()[info.param];
  std::string s = c.file.substr(0, c.file.size() - 5) + "_L" + std::to_string(c.line);
  for (auto& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

std::vector<std::size_t> indices() {
  std::vector<std::size_t> v(all_cases().size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, CorpusTest, ::testing::ValuesIn(indices()), case_name);

TEST(Corpus, HasAtLeastTwoHundredCases) { EXPECT_GE(all_cases().size(), 200u); }

// Every rule of the catalogue is exercised by at least one case that expects it.
TEST(Corpus, CoversEveryRule) {
  std::set<std::string> seen;
  for (const auto& c : all_cases()) {
    for (const auto& id : strings(c.node["rules"])) seen.insert(id);
    for (const auto& id : strings(c.node["findings"])) seen.insert(id);
  }
  for (const auto& r : rule_catalogue()) EXPECT_TRUE(seen.count(std::string(r.id))) << "no case for rule " << r.id;
}

}  // namespace
}  // namespace schemagate::policy
