// The plan journal against real SQLite files: what a plan runner and `schemagate migrations`
// rely on, including several proxies (store objects) sharing one file.
#include "proxy/state_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

namespace schemagate::proxy {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sg-state.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/state.db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<StateStore> open(const std::string& path = "") {
    std::string error;
    auto s = open_sqlite_state_store(path.empty() ? path_ : path, error);
    EXPECT_NE(s, nullptr) << error;
    return s;
  }

  static PlanJournalEntry entry(const std::string& statement, const std::string& user = "app",
                                const std::string& database = "shop", int phases = 6) {
    PlanJournalEntry e;
    e.statement = statement;
    e.statement_hash = statement_hash(statement);
    e.user = user;
    e.database = database;
    e.client_addr = "10.0.0.7:51234";
    e.application_name = "psql";
    e.rule_id = "add_column_volatile_default";
    e.plan_json = R"({"phases":[{"kind":"guarded"}]})";
    e.phase_count = phases;
    return e;
  }

  static std::string begin(StateStore& s, PlanJournalEntry e) {
    std::string error;
    EXPECT_TRUE(s.begin_plan(e, error)) << error;
    return e.id;
  }

  static PlanJournalEntry must_get(StateStore& s, const std::string& id) {
    std::string error;
    auto e = s.get(id, error);
    EXPECT_TRUE(e.has_value()) << id << ": " << error;
    return e.value_or(PlanJournalEntry{});
  }

  /// Runs SQL on the file directly, as a tool or a newer schemagate would.
  void raw_exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* msg = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg), SQLITE_OK) << (msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
  }

  std::string dir_, path_;
};

TEST(StateStoreHelpers, StatementHashIsHexSha256) {
  EXPECT_EQ(statement_hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(statement_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(StateStoreHelpers, StatusNamesRoundTrip) {
  for (auto s : {PlanStatus::running, PlanStatus::succeeded, PlanStatus::failed, PlanStatus::interrupted})
    EXPECT_EQ(parse_plan_status(to_string(s)), s);
  EXPECT_FALSE(parse_plan_status("Running").has_value());
  EXPECT_FALSE(parse_plan_status("").has_value());
}

TEST_F(StateStoreTest, BeginRecordFinishRoundTrip) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  PlanJournalEntry e = entry("ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()");
  e.status = PlanStatus::failed;  // begin_plan always starts a plan running
  std::string error;
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ASSERT_TRUE(s->begin_plan(e, error)) << error;
  EXPECT_EQ(e.id.size(), 16u);
  EXPECT_EQ(e.id.find_first_not_of("0123456789abcdef"), std::string::npos) << e.id;
  EXPECT_EQ(e.status, PlanStatus::running);
  EXPECT_GE(e.created_ms, before);
  EXPECT_LT(e.created_ms, before + 60000);
  EXPECT_EQ(e.updated_ms, e.created_ms);

  auto got = must_get(*s, e.id);
  EXPECT_EQ(got.statement, e.statement);
  EXPECT_EQ(got.statement_hash, e.statement_hash);
  EXPECT_EQ(got.user, "app");
  EXPECT_EQ(got.database, "shop");
  EXPECT_EQ(got.client_addr, "10.0.0.7:51234");
  EXPECT_EQ(got.application_name, "psql");
  EXPECT_EQ(got.rule_id, "add_column_volatile_default");
  EXPECT_EQ(got.plan_json, e.plan_json);
  EXPECT_EQ(got.phase_count, 6);
  EXPECT_EQ(got.phases_done, 0);
  EXPECT_EQ(got.status, PlanStatus::running);
  EXPECT_EQ(got.created_ms, e.created_ms);

  ASSERT_TRUE(s->record_phase_done(e.id, 2, error)) << error;
  ASSERT_TRUE(s->record_backfill(e.id, 12000, R"({"id":12000})", error)) << error;
  got = must_get(*s, e.id);
  EXPECT_EQ(got.phases_done, 2);
  EXPECT_EQ(got.rows_backfilled, 12000);
  EXPECT_EQ(got.backfill_resume, R"({"id":12000})");
  EXPECT_GE(got.updated_ms, got.created_ms);

  // The backfill position belongs to the phase that was running; the row count to the plan.
  ASSERT_TRUE(s->record_phase_done(e.id, 3, error)) << error;
  got = must_get(*s, e.id);
  EXPECT_EQ(got.backfill_resume, "");
  EXPECT_EQ(got.rows_backfilled, 12000);

  ASSERT_TRUE(s->finish_plan(e.id, PlanStatus::failed, "55P03: canceling statement due to lock timeout", error))
      << error;
  got = must_get(*s, e.id);
  EXPECT_EQ(got.status, PlanStatus::failed);
  EXPECT_EQ(got.error, "55P03: canceling statement due to lock timeout");
  EXPECT_EQ(got.phases_done, 3);
}

TEST_F(StateStoreTest, TextIsStoredByteForByte) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  // Quotes, a would-be injection, non-ASCII, control characters: all bound, never spliced.
  const std::string text = "ALTER TABLE \"o'; DROP TABLE plans; --\" ADD c text DEFAULT 'ü\x1b[2J\t'";
  PlanJournalEntry e = entry(text, "us'er", "d\"b");
  const auto id = begin(*s, e);
  const auto got = must_get(*s, id);
  EXPECT_EQ(got.statement, text);
  EXPECT_EQ(got.user, "us'er");
  EXPECT_EQ(got.database, "d\"b");
  std::string error;
  EXPECT_EQ(s->list(0, error).size(), 1u) << error;
}

TEST_F(StateStoreTest, IdsAreDistinct) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.insert(begin(*s, entry("CREATE INDEX i ON t (c)")));
  EXPECT_EQ(ids.size(), 200u);
}

TEST_F(StateStoreTest, RefusesUnknownIdsAndOutOfRangeProgress) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  std::string error;
  EXPECT_FALSE(s->record_phase_done("0000000000000000", 1, error));
  EXPECT_NE(error.find("no plan with id 0000000000000000"), std::string::npos) << error;
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_FALSE(s->record_backfill("nope", 1, "", error));
  EXPECT_NE(error.find("no plan with id nope"), std::string::npos) << error;
  EXPECT_FALSE(s->finish_plan("nope", PlanStatus::succeeded, "", error));
  EXPECT_NE(error.find("no plan with id"), std::string::npos) << error;

  const auto id = begin(*s, entry("CREATE INDEX i ON t (c)", "app", "shop", 2));
  EXPECT_FALSE(s->record_phase_done(id, 3, error));
  EXPECT_NE(error.find("out of range"), std::string::npos) << error;
  EXPECT_FALSE(s->record_phase_done(id, -1, error));
  EXPECT_FALSE(s->record_backfill(id, -5, "", error));
  EXPECT_FALSE(s->finish_plan(id, PlanStatus::running, "", error));
  EXPECT_EQ(must_get(*s, id).phases_done, 0);
  EXPECT_TRUE(s->record_phase_done(id, 2, error)) << error;

  PlanJournalEntry bad = entry("x", "app", "shop", 1);
  bad.phases_done = 2;
  EXPECT_FALSE(s->begin_plan(bad, error));

  const auto missing = s->get("ffffffffffffffff", error);
  EXPECT_FALSE(missing.has_value());
  EXPECT_EQ(error, "");  // not found is not an error
}

TEST_F(StateStoreTest, FindResumablePicksTheNewestUnfinishedOfThisUserAndDatabase) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  const std::string sql = "CREATE INDEX orders_user ON orders (user_id)";
  const std::string hash = statement_hash(sql);
  std::string error;
  // Begun in this order, most within the same millisecond: the order of begin_plan decides.
  const auto older = begin(*s, entry(sql));
  ASSERT_TRUE(s->finish_plan(older, PlanStatus::interrupted, "", error)) << error;
  const auto newer = begin(*s, entry(sql));
  const auto done = begin(*s, entry(sql));
  ASSERT_TRUE(s->finish_plan(done, PlanStatus::succeeded, "", error)) << error;
  const auto failed = begin(*s, entry(sql));
  ASSERT_TRUE(s->finish_plan(failed, PlanStatus::failed, "42P07: relation exists", error)) << error;
  const auto other_user = begin(*s, entry(sql, "batch"));
  begin(*s, entry(sql, "app", "billing"));
  begin(*s, entry("CREATE INDEX other ON orders (created_at)"));

  auto found = s->find_resumable(hash, "app", "shop", error);
  ASSERT_TRUE(found.has_value()) << error;
  EXPECT_EQ(found->id, newer);
  EXPECT_EQ(found->status, PlanStatus::running);

  ASSERT_TRUE(s->finish_plan(newer, PlanStatus::interrupted, "", error)) << error;
  EXPECT_EQ(s->find_resumable(hash, "app", "shop", error).value_or(PlanJournalEntry{}).id, newer);
  ASSERT_TRUE(s->finish_plan(newer, PlanStatus::succeeded, "", error)) << error;
  EXPECT_EQ(s->find_resumable(hash, "app", "shop", error).value_or(PlanJournalEntry{}).id, older);
  ASSERT_TRUE(s->finish_plan(older, PlanStatus::failed, "57014: canceled", error)) << error;
  EXPECT_FALSE(s->find_resumable(hash, "app", "shop", error).has_value());
  EXPECT_EQ(error, "");

  EXPECT_EQ(s->find_resumable(hash, "batch", "shop", error).value_or(PlanJournalEntry{}).id, other_user);
  EXPECT_FALSE(s->find_resumable(hash, "nobody", "shop", error).has_value());
}

TEST_F(StateStoreTest, ResumeClaimsAnInterruptedPlanExactlyOnce) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  std::string error;
  const auto id = begin(*s, entry("CREATE INDEX i ON t (c)"));
  EXPECT_FALSE(s->resume_plan(id, error));  // running: someone else has it
  EXPECT_NE(error.find("is running, not interrupted"), std::string::npos) << error;
  ASSERT_TRUE(s->record_phase_done(id, 1, error)) << error;
  ASSERT_TRUE(s->finish_plan(id, PlanStatus::interrupted, "08006: connection lost", error)) << error;

  ASSERT_TRUE(s->resume_plan(id, error)) << error;
  auto got = must_get(*s, id);
  EXPECT_EQ(got.status, PlanStatus::running);
  EXPECT_EQ(got.error, "");
  EXPECT_EQ(got.phases_done, 1);  // the resume point is kept
  EXPECT_FALSE(s->resume_plan(id, error));
  EXPECT_FALSE(s->resume_plan("0123456789abcdef", error));
  EXPECT_NE(error.find("no plan with id"), std::string::npos) << error;
}

TEST_F(StateStoreTest, MarkRunningInterrupted) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  std::string error;
  const auto a = begin(*s, entry("CREATE INDEX a ON t (a)"));
  const auto b = begin(*s, entry("CREATE INDEX b ON t (b)"));
  const auto c = begin(*s, entry("CREATE INDEX c ON t (c)"));
  ASSERT_TRUE(s->finish_plan(c, PlanStatus::succeeded, "", error)) << error;
  const auto d = begin(*s, entry("CREATE INDEX d ON t (d)"));
  ASSERT_TRUE(s->finish_plan(d, PlanStatus::failed, "23505: duplicate key", error)) << error;

  EXPECT_EQ(s->mark_running_interrupted(error), 0) << error;  // its own plans run: nothing abandoned
  // A restarted proxy takes them over: the process that ran them is gone.
  raw_exec("UPDATE plans SET owner = '" + PlanOwner::this_process().host + "/4194305/gone'");
  auto restarted = open();
  ASSERT_NE(restarted, nullptr);
  EXPECT_EQ(restarted->mark_running_interrupted(error), 2) << error;
  EXPECT_EQ(must_get(*s, a).status, PlanStatus::interrupted);
  EXPECT_EQ(must_get(*s, b).status, PlanStatus::interrupted);
  EXPECT_EQ(must_get(*s, c).status, PlanStatus::succeeded);
  EXPECT_EQ(must_get(*s, d).status, PlanStatus::failed);
  EXPECT_EQ(must_get(*s, d).error, "23505: duplicate key");
  EXPECT_EQ(restarted->mark_running_interrupted(error), 0) << error;
}

// Several proxies share one file: a proxy that starts must leave alone the plans another live
// proxy runs, and take over only those whose owner is gone or whose lease ran out.
TEST_F(StateStoreTest, LeasesOfLiveOwnersAreRespectedAndAbandonedOnesAreTakenOver) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  std::string error;
  const auto live_here = begin(*s, entry("CREATE INDEX a ON t (a)"));
  const auto other_host = begin(*s, entry("CREATE INDEX b ON t (b)"));
  const auto dead_here = begin(*s, entry("CREATE INDEX c ON t (c)"));
  const auto expired = begin(*s, entry("CREATE INDEX d ON t (d)"));
  const PlanOwner me = PlanOwner::this_process();
  // The parent process (the test runner) is alive; pid 2^22 + 1 is above Linux's pid_max.
  raw_exec("UPDATE plans SET owner = '" + me.host + "/" + std::to_string(::getppid()) + "/aa' WHERE id = '" + live_here + "';"
           "UPDATE plans SET owner = 'elsewhere.example/77/bb' WHERE id = '" + other_host + "';"
           "UPDATE plans SET owner = '" + me.host + "/4194305/cc' WHERE id = '" + dead_here + "';"
           "UPDATE plans SET owner = 'elsewhere.example/78/dd', lease_until_ms = 1000 WHERE id = '" + expired + "';");
  EXPECT_FALSE(s->abandoned(must_get(*s, live_here)));
  EXPECT_FALSE(s->abandoned(must_get(*s, other_host)));
  EXPECT_TRUE(s->abandoned(must_get(*s, dead_here)));
  EXPECT_TRUE(s->abandoned(must_get(*s, expired)));

  EXPECT_FALSE(s->resume_plan(live_here, error));
  EXPECT_NE(error.find("held by " + me.host + "/"), std::string::npos) << error;
  EXPECT_FALSE(s->resume_plan(other_host, error));
  // An abandoned running plan is claimed directly, under this store's lease.
  ASSERT_TRUE(s->resume_plan(dead_here, error)) << error;
  const auto claimed = must_get(*s, dead_here);
  EXPECT_EQ(claimed.status, PlanStatus::running);
  EXPECT_FALSE(s->abandoned(claimed));
  EXPECT_EQ(PlanOwner::parse(claimed.owner).value_or(PlanOwner{}).pid, static_cast<long>(::getpid()));

  auto starting = open();
  ASSERT_NE(starting, nullptr);
  EXPECT_EQ(starting->mark_running_interrupted(error), 1) << error;  // expired (dead_here is s's now)
  EXPECT_EQ(must_get(*s, live_here).status, PlanStatus::running);
  EXPECT_EQ(must_get(*s, other_host).status, PlanStatus::running);
  EXPECT_EQ(must_get(*s, expired).status, PlanStatus::interrupted);
}

TEST_F(StateStoreTest, RenewingExtendsOnlyTheOwnersLeases) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  std::string error;
  const auto mine = begin(*a, entry("CREATE INDEX a ON t (a)"));
  const auto theirs = begin(*b, entry("CREATE INDEX b ON t (b)"));
  raw_exec("UPDATE plans SET lease_until_ms = 5000");
  ASSERT_TRUE(a->renew_leases(error)) << error;
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GE(must_get(*a, mine).lease_until_ms, now + kPlanLeaseMs - 60000);
  EXPECT_EQ(must_get(*a, theirs).lease_until_ms, 5000);
  // A finished plan keeps its last lease: renewing touches running entries only.
  ASSERT_TRUE(a->finish_plan(mine, PlanStatus::succeeded, "", error)) << error;
  raw_exec("UPDATE plans SET lease_until_ms = 7000 WHERE id = '" + mine + "'");
  ASSERT_TRUE(a->renew_leases(error)) << error;
  EXPECT_EQ(must_get(*a, mine).lease_until_ms, 7000);
}

TEST_F(StateStoreTest, AVersion1JournalIsUpgradedAndItsRunningPlansAreAbandoned) {
  raw_exec(R"(
CREATE TABLE plans (
  id TEXT PRIMARY KEY, statement_hash TEXT NOT NULL, user_name TEXT NOT NULL, database_name TEXT NOT NULL,
  client_addr TEXT NOT NULL, application_name TEXT NOT NULL, statement TEXT NOT NULL, rule_id TEXT NOT NULL,
  plan_json TEXT NOT NULL, phase_count INTEGER NOT NULL, phases_done INTEGER NOT NULL, rows_backfilled INTEGER NOT NULL,
  backfill_resume TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  error TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
INSERT INTO plans VALUES ('00000000000000aa', 'h', 'app', 'shop', '', '', 'CREATE INDEX i ON t (a)', 'r', '{}', 2, 1, 0, '',
  'running', '', 1, 1);
PRAGMA application_id = 1397182538;
PRAGMA user_version = 1;
)");
  auto s = open();
  ASSERT_NE(s, nullptr);
  const auto old = must_get(*s, "00000000000000aa");
  EXPECT_EQ(old.owner, "");
  EXPECT_EQ(old.phases_done, 1);
  EXPECT_TRUE(s->abandoned(old));
  std::string error;
  EXPECT_EQ(s->mark_running_interrupted(error), 1) << error;
  const auto fresh = begin(*s, entry("CREATE INDEX j ON t (b)"));
  EXPECT_FALSE(must_get(*s, fresh).owner.empty());
}

TEST_F(StateStoreTest, ListIsNewestFirstAndLimited) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(begin(*s, entry("CREATE INDEX i" + std::to_string(i) + " ON t (c)")));
  std::string error;
  const auto all = s->list(0, error);
  ASSERT_EQ(all.size(), 5u) << error;
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(all[i].id, ids[4 - i]);
  const auto two = s->list(2, error);
  ASSERT_EQ(two.size(), 2u) << error;
  EXPECT_EQ(two[0].id, ids[4]);
  EXPECT_EQ(two[1].id, ids[3]);
}

// Two proxies on one host share the file: each must see the other's plans at once.
TEST_F(StateStoreTest, TwoStoresOnOneFileSeeEachOthersWrites) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  std::string error;
  const auto sql = "CREATE INDEX i ON t (c)";
  const auto id = begin(*a, entry(sql));
  EXPECT_EQ(must_get(*b, id).status, PlanStatus::running);
  ASSERT_TRUE(b->record_phase_done(id, 4, error)) << error;
  EXPECT_EQ(must_get(*a, id).phases_done, 4);
  ASSERT_TRUE(a->finish_plan(id, PlanStatus::interrupted, "", error)) << error;
  EXPECT_EQ(b->find_resumable(statement_hash(sql), "app", "shop", error).value_or(PlanJournalEntry{}).id, id);
  // Only one of them may take the interrupted plan over.
  EXPECT_TRUE(b->resume_plan(id, error)) << error;
  EXPECT_FALSE(a->resume_plan(id, error));
  EXPECT_EQ(a->list(0, error).size(), 1u) << error;
}

TEST_F(StateStoreTest, ReopeningKeepsEverything) {
  std::string id;
  {
    auto s = open();
    ASSERT_NE(s, nullptr);
    id = begin(*s, entry("ALTER TABLE t ADD c int DEFAULT random()"));
    std::string error;
    ASSERT_TRUE(s->record_phase_done(id, 2, error)) << error;
    ASSERT_TRUE(s->record_backfill(id, 777, "[42]", error)) << error;
  }
  auto s = open();
  ASSERT_NE(s, nullptr);
  const auto got = must_get(*s, id);
  EXPECT_EQ(got.phases_done, 2);
  EXPECT_EQ(got.rows_backfilled, 777);
  EXPECT_EQ(got.backfill_resume, "[42]");
  EXPECT_EQ(got.statement, "ALTER TABLE t ADD c int DEFAULT random()");
  std::string error;
  // Reopened in the same process, the entry's lease is current: it may be another live store.
  EXPECT_EQ(s->mark_running_interrupted(error), 0) << error;
  raw_exec("UPDATE plans SET lease_until_ms = 1000");  // a proxy that stopped renewing long ago
  EXPECT_EQ(s->mark_running_interrupted(error), 1) << error;
}

TEST_F(StateStoreTest, InMemoryJournalWorks) {
  auto s = open(":memory:");
  ASSERT_NE(s, nullptr);
  const auto id = begin(*s, entry("CREATE INDEX i ON t (c)"));
  EXPECT_EQ(must_get(*s, id).id, id);
}

TEST_F(StateStoreTest, BadPathsAreClearErrors) {
  std::string error;
  EXPECT_EQ(open_sqlite_state_store(dir_ + "/no/such/dir/state.db", error), nullptr);
  EXPECT_NE(error.find("'" + dir_ + "/no/such/dir/state.db'"), std::string::npos) << error;
  EXPECT_NE(error.find("directory '" + dir_ + "/no/such/dir' does not exist"), std::string::npos) << error;

  EXPECT_EQ(open_sqlite_state_store(dir_, error), nullptr);
  EXPECT_NE(error.find("is a directory"), std::string::npos) << error;

  EXPECT_EQ(open_sqlite_state_store("", error), nullptr);
  EXPECT_NE(error.find("empty"), std::string::npos) << error;

  std::ofstream(dir_ + "/notes.txt") << "not a database, just some text that is long enough to have a header\n";
  EXPECT_EQ(open_sqlite_state_store(dir_ + "/notes.txt", error), nullptr);
  EXPECT_NE(error.find(dir_ + "/notes.txt"), std::string::npos) << error;
  EXPECT_NE(error.find("not a database"), std::string::npos) << error;

  if (::geteuid() != 0) {  // root writes anywhere
    const std::string ro = dir_ + "/readonly";
    ASSERT_EQ(::mkdir(ro.c_str(), 0555), 0);
    EXPECT_EQ(open_sqlite_state_store(ro + "/state.db", error), nullptr);
    EXPECT_NE(error.find("is not writable"), std::string::npos) << error;
  }
}

TEST_F(StateStoreTest, RefusesAnotherApplicationsFileAndANewerSchema) {
  raw_exec("CREATE TABLE accounts (id int)");
  std::string error;
  EXPECT_EQ(open_sqlite_state_store(path_, error), nullptr);
  EXPECT_NE(error.find("not a schemagate plan journal"), std::string::npos) << error;

  const std::string newer = dir_ + "/newer.db";
  {
    std::string e;
    ASSERT_NE(open_sqlite_state_store(newer, e), nullptr) << e;
  }
  path_ = newer;
  raw_exec("PRAGMA user_version = 99");
  EXPECT_EQ(open_sqlite_state_store(newer, error), nullptr);
  EXPECT_NE(error.find("schema version 99"), std::string::npos) << error;
}

TEST_F(StateStoreTest, JournalFileUsesWal) {
  ASSERT_NE(open(), nullptr);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/// Four threads each run `plans` whole plans (begin, three phases, a backfill, finish) on the
/// store `store_for(thread)` gives them, called on that thread.
void run_writers(const std::function<StateStore*(int)>& store_for, int plans) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      StateStore* store = store_for(t);
      ASSERT_NE(store, nullptr);
      StateStore& s = *store;
      for (int i = 0; i < plans; ++i) {
        PlanJournalEntry e;
        e.statement = "CREATE INDEX t" + std::to_string(t) + "_" + std::to_string(i) + " ON t (c)";
        e.statement_hash = statement_hash(e.statement);
        e.user = "user" + std::to_string(t);
        e.database = "db";
        e.phase_count = 3;
        std::string error;
        bool ok = s.begin_plan(e, error);
        for (int p = 1; ok && p <= 3; ++p) ok = s.record_phase_done(e.id, p, error);
        ok = ok && s.record_backfill(e.id, i, std::to_string(i), error);
        ok = ok && s.finish_plan(e.id, PlanStatus::succeeded, "", error);
        EXPECT_TRUE(ok) << error;
      }
    });
  for (auto& th : threads) th.join();
}

void expect_all_finished(StateStore& s, std::size_t count, const std::string& path) {
  std::string error;
  const auto all = s.list(0, error);
  ASSERT_EQ(all.size(), count) << error;
  std::set<std::string> ids;
  for (const auto& e : all) {
    ids.insert(e.id);
    EXPECT_EQ(e.status, PlanStatus::succeeded) << e.id;
    EXPECT_EQ(e.phases_done, 3) << e.id;
    EXPECT_EQ(e.statement_hash, statement_hash(e.statement)) << e.id;
    EXPECT_EQ(e.backfill_resume, std::to_string(e.rows_backfilled)) << e.id;
  }
  EXPECT_EQ(ids.size(), count);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "ok");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(StateStoreTest, ConcurrentWritersOnOneStoreDoNotCorrupt) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  run_writers([&](int) { return s.get(); }, 50);
  expect_all_finished(*s, 200, path_);
}

// As four proxies starting at once would: four connections opening one new file together
// (one creates the schema), then writing, each waiting out the others' transactions.
TEST_F(StateStoreTest, ConcurrentWritersOnSeparateStoresDoNotCorrupt) {
  std::vector<std::unique_ptr<StateStore>> stores(4);
  run_writers(
      [&](int t) {
        std::string error;
        auto& s = stores[static_cast<std::size_t>(t)];
        s = open_sqlite_state_store(path_, error);
        EXPECT_NE(s, nullptr) << error;
        return s.get();
      },
      50);
  auto reader = open();
  ASSERT_NE(reader, nullptr);
  expect_all_finished(*reader, 200, path_);
}

}  // namespace
}  // namespace schemagate::proxy
