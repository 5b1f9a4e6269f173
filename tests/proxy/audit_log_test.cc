// The audit log's file handling: whole JSON lines appended, stdout, failures reported (a full
// disk, via /dev/full) and recovered, reopening after logrotate moved the file.
#include "proxy/audit_log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "proxy/approvals/request.h"

namespace schemagate::proxy {
namespace {

using json = nlohmann::json;

std::vector<json> lines_of(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));  // throws (fails) on a bad line
  return out;
}

Judgement judgement() {
  Judgement j;
  j.command_tag = "DROP TABLE";
  j.normalized = "DROP TABLE \"quoted\"\nname";
  j.fingerprint = "abcd";
  j.outcome = config::RuleAction::hold;
  j.rule = "drop_table";
  j.matched = {"drop_table"};
  j.message = "DROP TABLE needs approval";
  return j;
}

class AuditLogFile : public ::testing::Test {
 protected:
  std::string path_ = ::testing::TempDir() + "sg-audit-" + std::to_string(::getpid()) + ".jsonl";
  void TearDown() override {
    std::remove(path_.c_str());
    std::remove((path_ + ".1").c_str());
  }
};

TEST_F(AuditLogFile, DecisionsPlansAndApprovalsAreOneJsonObjectPerLine) {
  std::string error;
  auto log = AuditLog::open({path_, false}, error);
  ASSERT_NE(log, nullptr) << error;
  const AuditSession s{42, "alice", "shop", "10.0.0.7:5000", "rails"};
  EXPECT_TRUE(log->decision(s, judgement(), "held"));
  PhaseRecord p;
  p.index = 0;
  p.description = "build the index";
  p.duration_ms = 1200;
  p.attempts = 2;
  p.ok = true;
  EXPECT_TRUE(log->plan_started(s, "p1", "create_index", "CREATE INDEX", "CREATE INDEX i ON t (x)", 1));
  EXPECT_TRUE(log->plan_phase(s, "p1", p));
  EXPECT_TRUE(log->plan_finished(s, "p1", "succeeded", 1250, ""));
  approvals::ApprovalRequest r;
  r.id = "0123456789abcdef";
  r.user = "alice";
  r.votes.push_back({"bob", true, "ok", 1});
  EXPECT_TRUE(log->approval(r, "approved", &r.votes.back()));

  const auto lines = lines_of(path_);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0]["event"], "decision");
  EXPECT_EQ(lines[0]["session"], 42);
  EXPECT_EQ(lines[0]["application_name"], "rails");
  EXPECT_EQ(lines[0]["statement"], "DROP TABLE \"quoted\"\nname");  // escaped, still one line
  EXPECT_EQ(lines[0]["outcome"], "hold");
  EXPECT_EQ(lines[0]["action"], "held");
  EXPECT_EQ(lines[2]["event"], "plan_phase");
  EXPECT_EQ(lines[2]["phase"], 1);
  EXPECT_EQ(lines[2]["attempts"], 2);
  EXPECT_EQ(lines[4]["event"], "approval_approved");
  EXPECT_EQ(lines[4]["by"]["approver"], "bob");
  for (const auto& l : lines) EXPECT_TRUE(l.contains("time"));
}

TEST_F(AuditLogFile, AFullDiskIsReportedAndTheLogRecoversWhenWritable) {
  std::string error;
  auto log = AuditLog::open({"/dev/full", true}, error);
  ASSERT_NE(log, nullptr) << error;
  EXPECT_TRUE(log->healthy());
  EXPECT_FALSE(log->decision({}, judgement(), "held"));
  EXPECT_FALSE(log->healthy());
  EXPECT_TRUE(log->fail_closed());
}

TEST_F(AuditLogFile, ReopenFollowsLogrotate) {
  std::string error;
  auto log = AuditLog::open({path_, false}, error);
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->decision({}, judgement(), "held"));
  ASSERT_EQ(std::rename(path_.c_str(), (path_ + ".1").c_str()), 0);
  EXPECT_TRUE(log->decision({}, judgement(), "held"));  // still the moved file
  ASSERT_TRUE(log->reopen(error)) << error;
  EXPECT_TRUE(log->decision({}, judgement(), "held"));
  EXPECT_EQ(lines_of(path_ + ".1").size(), 2u);
  EXPECT_EQ(lines_of(path_).size(), 1u);
}

TEST_F(AuditLogFile, AnUnopenablePathIsAnErrorNamingTheKey) {
  std::string error;
  EXPECT_EQ(AuditLog::open({"/nonexistent-dir/audit.jsonl", false}, error), nullptr);
  EXPECT_NE(error.find("audit.path"), std::string::npos) << error;
  auto off = AuditLog::open({"", false}, error);
  ASSERT_NE(off, nullptr);
  EXPECT_FALSE(off->enabled());
  EXPECT_TRUE(off->decision({}, judgement(), "held"));
}

}  // namespace
}  // namespace schemagate::proxy
