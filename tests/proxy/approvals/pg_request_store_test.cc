// What only the PostgreSQL request store does, against a real PostgreSQL 15: changes pushed
// between instances by LISTEN/NOTIFY, reconnecting after the server restarts, identifier
// quoting, migrations shared by replicas starting together, refusing a newer schema.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proxy/approvals/request_store.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/pq.h"
#include "tests/support/process.h"

namespace schemagate::proxy::approvals {
namespace {

using namespace std::chrono_literals;
using schemagate::testing::PgCluster;
using schemagate::testing::PgConn;

ApprovalRequest request(const std::string& id) {
  ApprovalRequest r;
  r.id = id;
  r.statement = "DROP TABLE t";
  r.normalized = "DROP TABLE t";
  r.statement_hash = "hash-t";
  r.user = "app";
  r.database = "shop";
  r.created_ms = 1'700'000'000'000;
  r.expires_ms = r.created_ms + 60'000;
  return r;
}

/// The ids a change listener received, for a test thread to wait on.
class Received {
 public:
  std::function<void(const std::string&)> listener() {
    return [this](const std::string& id) {
      std::lock_guard lock(mu_);
      ids_.insert(id);
      cv_.notify_all();
    };
  }
  void clear() {
    std::lock_guard lock(mu_);
    ids_.clear();
  }
  bool wait_for(const std::string& id, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ids_.count(id) > 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> ids_;
};

class PgRequestStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = PgCluster::start(); }
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override {
    static int next = 0;
    cfg_.backend = config::ApprovalStore::Backend::postgres;
    cfg_.dsn = cluster_->conninfo();
    cfg_.schema = "pgstore_" + std::to_string(++next);
  }

  std::unique_ptr<RequestStore> open() {
    std::string error;
    auto s = open_postgres_request_store(cfg_, error);
    EXPECT_NE(s, nullptr) << error;
    return s;
  }

  PgConn admin() { return schemagate::testing::pq_connect_ok(cluster_->conninfo()); }

  /// Waits until `n` sessions LISTEN on this schema's channel (the listener connects on its
  /// own thread; a notification sent before its LISTEN is not delivered to it).
  bool wait_listening(int n, std::chrono::seconds timeout = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      PgConn c = schemagate::testing::pq_connect(cluster_->conninfo()).conn;
      if (c.ok()) {
        const auto r = c.exec_params(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE query = 'LISTEN \"' || replace($1 || '_requests', '\"', '\"\"') || '\"'",
            {cfg_.schema});
        if (r.ok && std::stoi(r.value()) >= n) return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  static bool approve(RequestStore& s, const std::string& id, const std::string& approver, std::string& error) {
    ApprovalRequest after;
    const auto changed = s.update(
        id,
        [&](ApprovalRequest& r) {
          return apply_vote(r, Vote{approver, true, "", 0}, DecideRules{}, r.created_ms + 1) != DecideResult::conflict;
        },
        after, error);
    return changed.has_value();
  }

  static inline std::unique_ptr<PgCluster> cluster_;
  config::ApprovalStore cfg_;
};

TEST_F(PgRequestStoreTest, AChangeThroughOneInstanceReachesTheOthersListener) {
  // Before the stores: their listener threads call into it until they are destroyed.
  Received received;
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->pushes_changes());
  a->set_change_listener(received.listener());
  ASSERT_TRUE(wait_listening(1));

  std::string error;
  ASSERT_TRUE(b->create(request("00000000000000a1"), error)) << error;
  EXPECT_TRUE(received.wait_for("00000000000000a1", 5s)) << "create not pushed";
  ASSERT_TRUE(b->create(request("00000000000000a2"), error)) << error;
  ASSERT_TRUE(approve(*b, "00000000000000a2", "alice", error)) << error;
  EXPECT_TRUE(received.wait_for("00000000000000a2", 5s)) << "update not pushed";

  // The sweep's expiry is pushed too.
  ASSERT_TRUE(b->create(request("00000000000000a3"), error)) << error;
  const auto expired = b->expire_due(request("x").expires_ms, error);
  ASSERT_EQ(expired.size(), 2u) << error;  // a1 and a3 (a2 is approved)
  EXPECT_TRUE(received.wait_for("00000000000000a3", 5s)) << "expiry not pushed";
  std::string seen_error;
  EXPECT_EQ(a->get("00000000000000a3", seen_error).value_or(ApprovalRequest{}).status, RequestStatus::expired);
}

TEST_F(PgRequestStoreTest, AnUpdateWhoseChangeDeclinesNotifiesNobody) {
  // Before the stores: their listener threads call into it until they are destroyed.
  Received received;
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  a->set_change_listener(received.listener());
  ASSERT_TRUE(wait_listening(1));
  std::string error;
  ASSERT_TRUE(b->create(request("00000000000000b1"), error)) << error;
  ASSERT_TRUE(b->create(request("00000000000000b2"), error)) << error;
  ASSERT_TRUE(received.wait_for("00000000000000b1", 5s));
  ASSERT_TRUE(received.wait_for("00000000000000b2", 5s));
  received.clear();
  ApprovalRequest after;
  ASSERT_TRUE(b->update("00000000000000b1", [](ApprovalRequest&) { return false; }, after, error)) << error;
  ASSERT_TRUE(approve(*b, "00000000000000b2", "bob", error)) << error;
  // Notifications arrive in commit order: once the later one is here, the earlier would be too.
  ASSERT_TRUE(received.wait_for("00000000000000b2", 5s));
  EXPECT_FALSE(received.wait_for("00000000000000b1", 0ms));
}

TEST_F(PgRequestStoreTest, ASchemaNameThatNeedsQuotingIsUsedAsIs) {
  // Before the stores: their listener threads call into it until they are destroyed.
  Received received;
  // Config validation allows only [a-z0-9_]; the store must be safe with anything.
  cfg_.schema = "Sg\"x'; DROP SCHEMA public; --";
  PgConn db = admin();
  const std::string schemas_before = db.scalar("SELECT count(*) FROM pg_namespace");
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(db.exec_params("SELECT count(*) FROM pg_tables WHERE schemaname = $1", {cfg_.schema}).value(), "2");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM pg_namespace"), std::to_string(std::stoi(schemas_before) + 1));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'public'"), "1");

  a->set_change_listener(received.listener());
  ASSERT_TRUE(wait_listening(1));
  std::string error;
  ASSERT_TRUE(b->create(request("00000000000000c1"), error)) << error;
  ASSERT_TRUE(approve(*b, "00000000000000c1", "alice", error)) << error;
  EXPECT_TRUE(received.wait_for("00000000000000c1", 5s));
  const auto got = a->get("00000000000000c1", error);
  ASSERT_TRUE(got) << error;
  EXPECT_EQ(got->status, RequestStatus::approved);
}

TEST_F(PgRequestStoreTest, ReplicasStartingTogetherMigrateOnce) {
  std::vector<std::unique_ptr<RequestStore>> stores(4);
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < stores.size(); ++i)
    threads.emplace_back([&, i] { stores[i] = open_postgres_request_store(cfg_, errors[i]); });
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < stores.size(); ++i) EXPECT_NE(stores[i], nullptr) << errors[i];
  PgConn db = admin();
  EXPECT_EQ(db.scalar("SELECT version FROM \"" + cfg_.schema + "\".schema_version"), "1");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM \"" + cfg_.schema + "\".schema_version"), "1");
}

TEST_F(PgRequestStoreTest, ANewerSchemaVersionIsRefused) {
  ASSERT_NE(open(), nullptr);
  PgConn db = admin();
  ASSERT_TRUE(db.exec("UPDATE \"" + cfg_.schema + "\".schema_version SET version = 99").ok);
  std::string error;
  EXPECT_EQ(open_postgres_request_store(cfg_, error), nullptr);
  EXPECT_NE(error.find("version 99"), std::string::npos) << error;
  EXPECT_NE(error.find("newer"), std::string::npos) << error;
}

TEST_F(PgRequestStoreTest, AnUnreachableServerFailsOpenPromptlyWithoutThePassword) {
  const int port = schemagate::testing::free_port();
  cfg_.dsn = "host=127.0.0.1 port=" + std::to_string(port) + " dbname=shop user=app password=s3cret-pw sslmode=disable";
  const auto start = std::chrono::steady_clock::now();
  std::string error;
  EXPECT_EQ(open_postgres_request_store(cfg_, error), nullptr);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);  // a hang would be the failure, not slowness
  EXPECT_NE(error.find("cannot connect"), std::string::npos) << error;
  EXPECT_NE(error.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << error;
  EXPECT_EQ(error.find("s3cret"), std::string::npos) << error;

  cfg_.dsn = "host=127.0.0.1 bogus_option=1";  // not a valid connection string
  EXPECT_EQ(open_postgres_request_store(cfg_, error), nullptr);
  EXPECT_NE(error.find("bogus_option"), std::string::npos) << error;
}

TEST_F(PgRequestStoreTest, CommandsReconnectAfterTheServerRestarts) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  std::string error;
  ASSERT_TRUE(s->create(request("00000000000000d1"), error)) << error;

  cluster_->restart();
  // The first call after the restart finds the connection broken, reconnects and succeeds.
  auto got = s->get("00000000000000d1", error);
  ASSERT_TRUE(got) << error;
  cluster_->restart();
  ASSERT_TRUE(approve(*s, "00000000000000d1", "alice", error)) << error;
  cluster_->restart();
  ASSERT_TRUE(s->create(request("00000000000000d2"), error)) << error;
  EXPECT_EQ(s->list(std::nullopt, 0, error).size(), 2u) << error;

  // Server down: a clear error, no hang; back up: the next call works again.
  cluster_->stop_server();
  EXPECT_FALSE(s->get("00000000000000d1", error));
  EXPECT_NE(error.find("unreachable"), std::string::npos) << error;
  ApprovalRequest after;
  EXPECT_FALSE(s->update("00000000000000d1", [](ApprovalRequest&) { return true; }, after, error));
  EXPECT_NE(error, "");
  cluster_->start_server();
  got = s->get("00000000000000d1", error);
  ASSERT_TRUE(got) << error;
  EXPECT_EQ(got->status, RequestStatus::approved);
}

TEST_F(PgRequestStoreTest, TheListenerReconnectsAfterTheServerRestarts) {
  // Before the stores: their listener threads call into it until they are destroyed.
  Received received;
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  a->set_change_listener(received.listener());
  ASSERT_TRUE(wait_listening(1));

  cluster_->restart();
  ASSERT_TRUE(wait_listening(1)) << "the listener did not LISTEN again";
  std::string error;
  ASSERT_TRUE(b->create(request("00000000000000e1"), error)) << error;
  EXPECT_TRUE(received.wait_for("00000000000000e1", 5s));

  // Down for longer than the first backoff steps: it keeps trying, and destroying the store
  // meanwhile (the listener asleep in its backoff) returns.
  cluster_->stop_server();
  std::this_thread::sleep_for(4s);
  cluster_->start_server();
  ASSERT_TRUE(wait_listening(1)) << "the listener did not LISTEN again";
  ASSERT_TRUE(approve(*b, "00000000000000e1", "alice", error)) << error;
  Received after_outage;
  // A fresh listener on another instance sees the same later changes.
  auto c = open();
  c->set_change_listener(after_outage.listener());
  ASSERT_TRUE(wait_listening(2));
  ASSERT_TRUE(b->create(request("00000000000000e2"), error)) << error;
  EXPECT_TRUE(received.wait_for("00000000000000e2", 5s));
  EXPECT_TRUE(after_outage.wait_for("00000000000000e2", 5s));

  cluster_->stop_server();
  std::this_thread::sleep_for(1500ms);
  a.reset();
  c.reset();
  cluster_->start_server();
}

}  // namespace
}  // namespace schemagate::proxy::approvals
