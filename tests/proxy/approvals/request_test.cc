// The approval request's pure rules: votes, expiry, ids, and the JSON the API and stores use.
#include <gtest/gtest.h>

#include <set>

#include "proxy/approvals/request.h"

namespace schemagate::proxy::approvals {
namespace {

ApprovalRequest pending(int approvals_required = 1) {
  ApprovalRequest r;
  r.id = new_request_id();
  r.statement = "DROP TABLE \"Ünïcode\" -- it's 'quoted' \\ here";
  r.statement_hash = "abc";
  r.user = "app";
  r.database = "prod";
  r.created_ms = 1000;
  r.expires_ms = 10000;
  r.approvals_required = approvals_required;
  r.rules_json = R"([{"id":"drop_table","message":"m"}])";
  r.plan_json = R"({"rule_id":"x","phases":[]})";
  return r;
}

Vote vote(const std::string& who, bool approve, const std::string& reason = "") { return Vote{who, approve, reason, 0}; }

const DecideRules kRules{true, 3600000};

TEST(ApprovalRequest, OneApprovalDecidesAndStartsTheValidity) {
  auto r = pending();
  EXPECT_EQ(apply_vote(r, vote("alice", true, "ok"), kRules, 2000), DecideResult::decided);
  EXPECT_EQ(r.status, RequestStatus::approved);
  EXPECT_EQ(r.decided_ms, 2000);
  EXPECT_EQ(r.valid_until_ms, 2000 + 3600000);
  EXPECT_EQ(decided_by(r), "alice");
  EXPECT_EQ(decision_reason(r), "ok");
}

TEST(ApprovalRequest, SelfApprovalIsRefusedOnlyWhenDistinctApproversAreRequired) {
  auto r = pending();
  EXPECT_EQ(apply_vote(r, vote("app", true), kRules, 2000), DecideResult::self_approval);
  EXPECT_EQ(r.status, RequestStatus::pending);
  EXPECT_TRUE(r.votes.empty());
  EXPECT_EQ(apply_vote(r, vote("app", true), DecideRules{false, 1000}, 2000), DecideResult::decided);
  // The requester may always deny their own request.
  auto d = pending();
  EXPECT_EQ(apply_vote(d, vote("app", false, "oops"), kRules, 2000), DecideResult::decided);
  EXPECT_EQ(d.status, RequestStatus::denied);
}

TEST(ApprovalRequest, SeveralApprovalsNeedDistinctApprovers) {
  auto r = pending(2);
  EXPECT_EQ(apply_vote(r, vote("alice", true), kRules, 2000), DecideResult::recorded);
  EXPECT_EQ(r.status, RequestStatus::pending);
  EXPECT_EQ(apply_vote(r, vote("alice", true), kRules, 2100), DecideResult::already_voted);
  EXPECT_EQ(r.votes.size(), 1u);
  EXPECT_EQ(apply_vote(r, vote("bob", true), kRules, 2200), DecideResult::decided);
  EXPECT_EQ(r.status, RequestStatus::approved);
  // A repeat after the decision is still idempotent, a different vote is a conflict.
  EXPECT_EQ(apply_vote(r, vote("bob", true), kRules, 2300), DecideResult::already_voted);
  EXPECT_EQ(apply_vote(r, vote("carol", false, "late"), kRules, 2300), DecideResult::conflict);
  EXPECT_EQ(r.status, RequestStatus::approved);
}

TEST(ApprovalRequest, ADenyDecidesAtOnceEvenAfterAnApproval) {
  auto r = pending(2);
  EXPECT_EQ(apply_vote(r, vote("alice", true), kRules, 2000), DecideResult::recorded);
  EXPECT_EQ(apply_vote(r, vote("bob", false, "no"), kRules, 2100), DecideResult::decided);
  EXPECT_EQ(r.status, RequestStatus::denied);
  EXPECT_EQ(decided_by(r), "bob");
}

TEST(ApprovalRequest, ExpiredRequestsTakeNoVotes) {
  auto r = pending();
  EXPECT_FALSE(expire_if_due(r, 9999));
  EXPECT_EQ(apply_vote(r, vote("alice", true), kRules, 10000), DecideResult::conflict);
  EXPECT_EQ(r.status, RequestStatus::expired);
  EXPECT_FALSE(expire_if_due(r, 20000)) << "only pending requests expire";
}

TEST(ApprovalRequest, JsonRoundTripKeepsEveryField) {
  auto r = pending(2);
  apply_vote(r, vote("alice", true, "ticket \"7\""), kRules, 2000);
  r.evidence_json = R"({"tables":[{"table":"t","estimated_rows":5}]})";
  r.facts_json = R"({"lock":"AccessExclusiveLock"})";
  r.in_transaction = true;
  r.outcome = "x";
  ApprovalRequest back;
  std::string error;
  ASSERT_TRUE(from_json_text(to_json_text(r), back, error)) << error;
  EXPECT_EQ(back.id, r.id);
  EXPECT_EQ(back.statement, r.statement);
  EXPECT_EQ(back.status, r.status);
  EXPECT_EQ(back.votes.size(), 1u);
  EXPECT_EQ(back.votes[0].reason, "ticket \"7\"");
  EXPECT_EQ(back.approvals_required, 2);
  EXPECT_TRUE(back.in_transaction);
  EXPECT_EQ(to_json_text(back), to_json_text(r));
  EXPECT_FALSE(from_json_text("[1]", back, error));
  EXPECT_FALSE(from_json_text(R"({"id":"x","status":"bogus"})", back, error));
}

TEST(ApprovalRequest, IdsAreRandomHexAndValidated) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto id = new_request_id();
    EXPECT_TRUE(valid_request_id(id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  for (const char* bad : {"", "../../etc/passwd", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0",
                          "0123456789abcde/", "%2e%2e%2f0123456789"})
    EXPECT_FALSE(valid_request_id(bad)) << bad;
}

TEST(ApprovalRequest, StatusNamesRoundTrip) {
  for (auto s : {RequestStatus::pending, RequestStatus::approved, RequestStatus::denied, RequestStatus::expired,
                 RequestStatus::withdrawn, RequestStatus::executed, RequestStatus::failed})
    EXPECT_EQ(parse_request_status(to_string(s)), s);
  EXPECT_FALSE(parse_request_status("PENDING"));
}

}  // namespace
}  // namespace schemagate::proxy::approvals
