// The RequestStore contract, run over both backends: an embedded SQLite file and a schema of
// a real PostgreSQL 15. Whatever a caller (the service, the admin API, the sweep) may rely on
// is asserted here once, for both.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proxy/approvals/request_store.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/process.h"

namespace schemagate::proxy::approvals {
namespace {

using schemagate::testing::PgCluster;
using schemagate::testing::TempDir;

constexpr std::int64_t kNow = 1'700'000'000'000;  // a fixed "now": the store never reads the clock

/// A request with every field set; text with non-ASCII, quotes and backslashes. The embedded
/// JSON documents are compact with sorted keys: the form to_json_text writes them back in.
ApprovalRequest sample(const std::string& id, std::int64_t created_ms, RequestStatus status = RequestStatus::pending) {
  ApprovalRequest r;
  r.id = id;
  r.statement = "DROP TABLE \"Größe\".\"o'neil\" /* \\ back\\slash, tab\t, 表 ✓ */";
  r.normalized = "DROP TABLE \"Größe\".\"o'neil\"";
  r.fingerprint = "a1b2c3d4e5f60718";
  r.statement_hash = "hash-drop-groesse";
  r.command_tag = "DROP TABLE";
  r.user = "app_ü";
  r.database = "shop";
  r.client_addr = "10.0.0.7:51234";
  r.application_name = "psql \"quoted\" \\";
  r.rule_id = "no_drop_table";
  r.rules_json = R"([{"detail":"d \"q\" \\ ü","hint":"ask","id":"no_drop_table","message":"Ärger"}])";
  r.facts_json = R"({"lock":"ACCESS EXCLUSIVE","rewrite":false,"table_bytes":123456789})";
  r.plan_json = R"({"phases":[{"kind":"guarded","sql":"SELECT '\\x'"}]})";
  r.evidence_json = R"({"lock_holders":[{"pid":42,"query":"SELECT 'ä'"}],"replication_lag_bytes":0})";
  r.in_transaction = true;
  r.proxy_instance = "proxy-7:4242";
  r.status = status;
  r.created_ms = created_ms;
  r.expires_ms = created_ms + 86'400'000;
  r.approvals_required = 2;
  return r;
}

void expect_same(const ApprovalRequest& want, const ApprovalRequest& got) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.statement, want.statement);
  EXPECT_EQ(got.normalized, want.normalized);
  EXPECT_EQ(got.fingerprint, want.fingerprint);
  EXPECT_EQ(got.statement_hash, want.statement_hash);
  EXPECT_EQ(got.command_tag, want.command_tag);
  EXPECT_EQ(got.user, want.user);
  EXPECT_EQ(got.database, want.database);
  EXPECT_EQ(got.client_addr, want.client_addr);
  EXPECT_EQ(got.application_name, want.application_name);
  EXPECT_EQ(got.rule_id, want.rule_id);
  EXPECT_EQ(got.rules_json, want.rules_json);
  EXPECT_EQ(got.facts_json, want.facts_json);
  EXPECT_EQ(got.plan_json, want.plan_json);
  EXPECT_EQ(got.evidence_json, want.evidence_json);
  EXPECT_EQ(got.in_transaction, want.in_transaction);
  EXPECT_EQ(got.proxy_instance, want.proxy_instance);
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.created_ms, want.created_ms);
  EXPECT_EQ(got.expires_ms, want.expires_ms);
  EXPECT_EQ(got.decided_ms, want.decided_ms);
  EXPECT_EQ(got.valid_until_ms, want.valid_until_ms);
  EXPECT_EQ(got.finished_ms, want.finished_ms);
  EXPECT_EQ(got.approvals_required, want.approvals_required);
  ASSERT_EQ(got.votes.size(), want.votes.size());
  for (std::size_t i = 0; i < want.votes.size(); ++i) {
    EXPECT_EQ(got.votes[i].approver, want.votes[i].approver);
    EXPECT_EQ(got.votes[i].approve, want.votes[i].approve);
    EXPECT_EQ(got.votes[i].reason, want.votes[i].reason);
    EXPECT_EQ(got.votes[i].at_ms, want.votes[i].at_ms);
  }
  EXPECT_EQ(got.outcome, want.outcome);
}

std::vector<std::string> ids(const std::vector<ApprovalRequest>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.id);
  return out;
}

class RequestStoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override {
    if (GetParam() == "postgres") {
      // One cluster for the suite (started on first use, so a run of only the SQLite cases
      // does not pay for it); a schema of its own for each test.
      if (!cluster_) cluster_ = PgCluster::start();
      static int next = 0;
      cfg_.backend = config::ApprovalStore::Backend::postgres;
      cfg_.dsn = cluster_->conninfo();
      cfg_.schema = "contract_" + std::to_string(++next);
    } else {
      dir_ = std::make_unique<TempDir>("sg-requests");
      path_ = dir_->file("approvals.db");
    }
    store_ = open();
    ASSERT_NE(store_, nullptr);
  }

  /// Another store instance on the same storage (another replica, or the proxy restarted).
  std::unique_ptr<RequestStore> open() {
    std::string error;
    auto s = GetParam() == "postgres" ? open_postgres_request_store(cfg_, error) : open_sqlite_request_store(path_, error);
    EXPECT_NE(s, nullptr) << error;
    EXPECT_EQ(error, "");
    return s;
  }

  void create(RequestStore& s, const ApprovalRequest& r) {
    std::string error;
    ASSERT_TRUE(s.create(r, error)) << error;
    EXPECT_EQ(error, "");
  }
  void create(const ApprovalRequest& r) { create(*store_, r); }

  ApprovalRequest get(const std::string& id) {
    std::string error;
    auto r = store_->get(id, error);
    EXPECT_TRUE(r) << id << ": " << error;
    return r.value_or(ApprovalRequest{});
  }

  static inline std::unique_ptr<PgCluster> cluster_;
  config::ApprovalStore cfg_;
  std::unique_ptr<TempDir> dir_;
  std::string path_;
  std::unique_ptr<RequestStore> store_;
};

TEST_P(RequestStoreContract, CreateThenGetReturnsEveryFieldAsStored) {
  ApprovalRequest r = sample("00000000000000a1", kNow, RequestStatus::approved);
  r.decided_ms = kNow + 5;
  r.valid_until_ms = kNow + 3'600'000;
  r.finished_ms = kNow + 7;
  r.votes = {{"alice", true, "looks \"fine\" \\ ✓", kNow + 1}, {"bob", true, "", kNow + 5}};
  r.outcome = "DROP TABLE";
  create(r);
  expect_same(r, get(r.id));

  // And as another instance sees it (the columns beside the body do not drift from it).
  auto other = open();
  ASSERT_NE(other, nullptr);
  std::string error;
  auto seen = other->get(r.id, error);
  ASSERT_TRUE(seen) << error;
  expect_same(r, *seen);
  const auto listed = other->list(RequestStatus::approved, 0, error);
  ASSERT_EQ(listed.size(), 1u) << error;
  expect_same(r, listed[0]);
}

TEST_P(RequestStoreContract, EmptyOptionalFieldsStayEmpty) {
  ApprovalRequest r = sample("00000000000000a2", kNow);
  r.plan_json = "";
  r.rules_json = "[]";
  r.facts_json = "{}";
  r.evidence_json = "{}";
  r.client_addr = "";
  create(r);
  expect_same(r, get(r.id));
}

TEST_P(RequestStoreContract, GetOfAnUnknownIdIsNulloptWithoutError) {
  create(sample("00000000000000b1", kNow));
  std::string error = "stale";
  EXPECT_FALSE(store_->get("00000000000000b2", error));
  EXPECT_EQ(error, "");
  EXPECT_FALSE(store_->get("x'); DROP TABLE requests; --", error));
  EXPECT_EQ(error, "");
  EXPECT_TRUE(store_->get("00000000000000b1", error)) << error;
}

TEST_P(RequestStoreContract, CreateOfAnExistingIdFailsAndKeepsTheFirst) {
  const ApprovalRequest first = sample("00000000000000c1", kNow);
  create(first);
  ApprovalRequest second = sample("00000000000000c1", kNow + 1);
  second.statement = "DROP TABLE other";
  std::string error;
  EXPECT_FALSE(store_->create(second, error));
  EXPECT_NE(error, "");
  expect_same(first, get(first.id));
}

TEST_P(RequestStoreContract, ListIsNewestFirstFilteredAndLimited) {
  create(sample("00000000000000d2", kNow + 2));
  create(sample("00000000000000d1", kNow + 1, RequestStatus::denied));
  create(sample("00000000000000d4", kNow + 4, RequestStatus::denied));
  create(sample("00000000000000d3", kNow + 3));
  std::string error;
  EXPECT_EQ(ids(store_->list(std::nullopt, 0, error)),
            (std::vector<std::string>{"00000000000000d4", "00000000000000d3", "00000000000000d2", "00000000000000d1"}));
  EXPECT_EQ(error, "");
  EXPECT_EQ(ids(store_->list(std::nullopt, 3, error)),
            (std::vector<std::string>{"00000000000000d4", "00000000000000d3", "00000000000000d2"}));
  EXPECT_EQ(ids(store_->list(RequestStatus::pending, 0, error)),
            (std::vector<std::string>{"00000000000000d3", "00000000000000d2"}));
  EXPECT_EQ(ids(store_->list(RequestStatus::denied, 1, error)), (std::vector<std::string>{"00000000000000d4"}));
  EXPECT_TRUE(store_->list(RequestStatus::executed, 0, error).empty());
  EXPECT_EQ(error, "");
}

TEST_P(RequestStoreContract, UpdateChangesThePersistedRequest) {
  create(sample("00000000000000e1", kNow));
  ApprovalRequest after;
  std::string error;
  const auto changed = store_->update(
      "00000000000000e1",
      [](ApprovalRequest& r) {
        r.status = RequestStatus::withdrawn;
        r.decided_ms = kNow + 10;
        r.outcome = "client disconnected — \"gone\"";
        return true;
      },
      after, error);
  ASSERT_TRUE(changed) << error;
  EXPECT_TRUE(*changed);
  EXPECT_EQ(after.status, RequestStatus::withdrawn);
  EXPECT_EQ(after.outcome, "client disconnected — \"gone\"");

  store_.reset();  // the proxy restarts
  store_ = open();
  ASSERT_NE(store_, nullptr);
  expect_same(after, get("00000000000000e1"));
  EXPECT_EQ(ids(store_->list(RequestStatus::withdrawn, 0, error)), (std::vector<std::string>{"00000000000000e1"}));
  EXPECT_TRUE(store_->list(RequestStatus::pending, 0, error).empty());
}

TEST_P(RequestStoreContract, UpdateWhoseChangeReturnsFalseWritesNothing) {
  const ApprovalRequest r = sample("00000000000000e2", kNow);
  create(r);
  ApprovalRequest after;
  std::string error;
  const auto changed = store_->update(
      r.id,
      [](ApprovalRequest& x) {
        x.status = RequestStatus::denied;  // a change the callback then declines to keep
        return false;
      },
      after, error);
  ASSERT_TRUE(changed) << error;
  EXPECT_FALSE(*changed);
  EXPECT_EQ(after.id, r.id);
  expect_same(r, get(r.id));
}

TEST_P(RequestStoreContract, UpdateOfAnUnknownIdIsNulloptWithoutCallingChange) {
  create(sample("00000000000000e3", kNow));
  bool called = false;
  ApprovalRequest after;
  std::string error = "stale";
  EXPECT_FALSE(store_->update(
      "00000000000000e4",
      [&](ApprovalRequest&) {
        called = true;
        return true;
      },
      after, error));
  EXPECT_FALSE(called);
  EXPECT_EQ(error, "");
}

/// 8 threads each add their approvers' votes through read-modify-write updates; split over
/// `stores` instances. A lost update would drop votes.
void concurrent_votes(std::vector<RequestStore*> stores, const std::string& id, int per_thread) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      RequestStore& s = *stores[static_cast<std::size_t>(t) % stores.size()];
      for (int i = 0; i < per_thread; ++i) {
        const Vote vote{"approver-" + std::to_string(t) + "-" + std::to_string(i), true, "ok", 0};
        ApprovalRequest after;
        std::string error;
        const auto changed = s.update(
            id, [&](ApprovalRequest& r) { return apply_vote(r, vote, DecideRules{}, kNow + 1) == DecideResult::recorded; },
            after, error);
        if (!changed || !*changed) {
          ++failures;
          ADD_FAILURE() << vote.approver << ": " << error;
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_P(RequestStoreContract, ConcurrentUpdatesLoseNoVote) {
  ApprovalRequest r = sample("00000000000000f1", kNow);
  r.approvals_required = 1000;  // every vote is recorded, none decides
  create(r);
  concurrent_votes({store_.get()}, r.id, 10);
  const ApprovalRequest got = get(r.id);
  EXPECT_EQ(got.votes.size(), 80u);
  EXPECT_EQ(got.status, RequestStatus::pending);
}

TEST_P(RequestStoreContract, ConcurrentUpdatesFromTwoInstancesLoseNoVote) {
  ApprovalRequest r = sample("00000000000000f2", kNow);
  r.approvals_required = 1000;
  create(r);
  auto other = open();
  ASSERT_NE(other, nullptr);
  concurrent_votes({store_.get(), other.get()}, r.id, 10);
  const ApprovalRequest got = get(r.id);
  EXPECT_EQ(got.votes.size(), 80u);
  std::set<std::string> approvers;
  for (const auto& v : got.votes) approvers.insert(v.approver);
  EXPECT_EQ(approvers.size(), 80u);
}

ApprovalRequest approved(const std::string& id, std::int64_t created_ms, std::int64_t valid_until_ms) {
  ApprovalRequest r = sample(id, created_ms, RequestStatus::approved);
  r.decided_ms = created_ms + 1;
  r.valid_until_ms = valid_until_ms;
  return r;
}

TEST_P(RequestStoreContract, FindApprovedMatchesHashUserDatabaseAndValidity) {
  const std::string hash = "hash-drop-groesse", user = "app_ü", db = "shop";
  create(approved("0000000000000101", kNow - 30, kNow + 60'000));  // matches, older
  create(approved("0000000000000102", kNow - 20, kNow + 60'000));  // matches, newest
  ApprovalRequest other_user = approved("0000000000000103", kNow - 10, kNow + 60'000);
  other_user.user = "intruder";
  create(other_user);
  ApprovalRequest other_db = approved("0000000000000104", kNow - 10, kNow + 60'000);
  other_db.database = "billing";
  create(other_db);
  ApprovalRequest other_hash = approved("0000000000000105", kNow - 10, kNow + 60'000);
  other_hash.statement_hash = "hash-other";
  create(other_hash);
  create(approved("0000000000000106", kNow - 5, kNow));  // valid_until not ahead of now: lapsed
  ApprovalRequest pending = sample("0000000000000107", kNow - 1);
  create(pending);  // same key, but not approved

  std::string error;
  auto found = store_->find_approved(hash, user, db, kNow, error);
  ASSERT_TRUE(found) << error;
  EXPECT_EQ(found->id, "0000000000000102");
  EXPECT_EQ(store_->find_approved("hash-other", user, db, kNow, error).value_or(ApprovalRequest{}).id, "0000000000000105");
  EXPECT_EQ(store_->find_approved(hash, "intruder", db, kNow, error).value_or(ApprovalRequest{}).id, "0000000000000103");
  EXPECT_EQ(store_->find_approved(hash, user, "billing", kNow, error).value_or(ApprovalRequest{}).id, "0000000000000104");

  // Past every validity: nothing; and one approval used (executed) no longer matches.
  EXPECT_FALSE(store_->find_approved(hash, user, db, kNow + 60'000, error));
  EXPECT_EQ(error, "");
  for (const char* id : {"0000000000000102", "0000000000000101"}) {
    ApprovalRequest after;
    ASSERT_TRUE(store_->update(
        id,
        [](ApprovalRequest& r) {
          r.status = RequestStatus::executed;
          return true;
        },
        after, error))
        << error;
  }
  EXPECT_FALSE(store_->find_approved(hash, user, db, kNow, error));
  EXPECT_EQ(error, "");
  EXPECT_FALSE(store_->find_approved(hash, "nobody", db, kNow, error));
}

TEST_P(RequestStoreContract, FindApprovedSeesValidityExtendedByAnUpdate) {
  create(approved("0000000000000111", kNow - 10, kNow - 1));
  std::string error;
  EXPECT_FALSE(store_->find_approved("hash-drop-groesse", "app_ü", "shop", kNow, error));
  ApprovalRequest after;
  ASSERT_TRUE(store_->update(
      "0000000000000111",
      [](ApprovalRequest& r) {
        r.valid_until_ms = kNow + 1000;
        return true;
      },
      after, error))
      << error;
  auto found = store_->find_approved("hash-drop-groesse", "app_ü", "shop", kNow, error);
  ASSERT_TRUE(found) << error;
  EXPECT_EQ(found->valid_until_ms, kNow + 1000);
}

TEST_P(RequestStoreContract, FindPendingIsTheNewestPendingOfTheKey) {
  const std::string hash = "hash-drop-groesse", user = "app_ü", db = "shop";
  std::string error;
  EXPECT_FALSE(store_->find_pending(hash, user, db, error));
  EXPECT_EQ(error, "");
  create(sample("0000000000000201", kNow - 30));
  create(sample("0000000000000202", kNow - 20));
  create(approved("0000000000000203", kNow - 10, kNow + 60'000));
  create(sample("0000000000000204", kNow - 5, RequestStatus::denied));
  ApprovalRequest other_user = sample("0000000000000205", kNow);
  other_user.user = "someone_else";
  create(other_user);

  auto found = store_->find_pending(hash, user, db, error);
  ASSERT_TRUE(found) << error;
  EXPECT_EQ(found->id, "0000000000000202");
  EXPECT_EQ(store_->find_pending(hash, "someone_else", db, error).value_or(ApprovalRequest{}).id, "0000000000000205");
  EXPECT_FALSE(store_->find_pending(hash, user, "billing", error));
  EXPECT_FALSE(store_->find_pending("hash-other", user, db, error));
  EXPECT_EQ(error, "");
}

TEST_P(RequestStoreContract, ExpireDueMovesOnlyDuePendingRequests) {
  ApprovalRequest due = sample("0000000000000301", kNow - 100);
  due.expires_ms = kNow - 1;
  ApprovalRequest due_now = sample("0000000000000302", kNow - 90);
  due_now.expires_ms = kNow;
  ApprovalRequest not_due = sample("0000000000000303", kNow - 80);
  not_due.expires_ms = kNow + 1;
  ApprovalRequest decided = approved("0000000000000304", kNow - 70, kNow + 60'000);
  decided.expires_ms = kNow - 50;
  ApprovalRequest denied = sample("0000000000000305", kNow - 60, RequestStatus::denied);
  denied.expires_ms = kNow - 50;
  for (const auto* r : {&due, &due_now, &not_due, &decided, &denied}) create(*r);

  std::string error;
  auto expired = store_->expire_due(kNow, error);
  EXPECT_EQ(error, "");
  const auto expired_ids = ids(expired);
  const std::set<std::string> got(expired_ids.begin(), expired_ids.end());
  EXPECT_EQ(got, (std::set<std::string>{"0000000000000301", "0000000000000302"}));
  for (const auto& r : expired) {
    EXPECT_EQ(r.status, RequestStatus::expired);
    EXPECT_EQ(r.decided_ms, kNow);
  }
  EXPECT_EQ(get("0000000000000301").status, RequestStatus::expired);
  EXPECT_EQ(get("0000000000000302").status, RequestStatus::expired);
  EXPECT_EQ(get("0000000000000303").status, RequestStatus::pending);
  EXPECT_EQ(get("0000000000000304").status, RequestStatus::approved);
  EXPECT_EQ(get("0000000000000305").status, RequestStatus::denied);
  const auto still_pending = store_->find_pending("hash-drop-groesse", "app_ü", "shop", error);
  ASSERT_TRUE(still_pending) << error;
  EXPECT_EQ(still_pending->id, "0000000000000303");

  // Again at the same time: nothing left to move.
  EXPECT_TRUE(store_->expire_due(kNow, error).empty());
  EXPECT_EQ(error, "");
  // Later: the remaining pending one.
  EXPECT_EQ(ids(store_->expire_due(kNow + 1, error)), (std::vector<std::string>{"0000000000000303"}));
  EXPECT_EQ(ids(store_->list(RequestStatus::expired, 0, error)),
            (std::vector<std::string>{"0000000000000303", "0000000000000302", "0000000000000301"}));
}

INSTANTIATE_TEST_SUITE_P(Backends, RequestStoreContract, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace schemagate::proxy::approvals
