// Zero downtime on a 1,000,000-row table: two writers and a reader keep running through the
// enforcing proxy while each rewritten DDL runs (CREATE INDEX, ADD FOREIGN KEY, ADD COLUMN with
// a volatile default and NOT NULL, SET NOT NULL). No client query fails, and the writers
// complete queries in every phase of every plan; the timeline is split per phase by the plan's
// own "phase i/n done" NOTICEs and printed. The same ADD COLUMN sent raw (a second proxy in
// observe mode forwards it unchanged) rewrites the table under ACCESS EXCLUSIVE, and the
// writers are stalled for nearly all of it: that is the difference the plans exist for.
//
// Only structure is asserted (progress in each phase, blocked for most of the raw statement),
// never a duration: the machines are shared and noisy. Figures are printed as "[ figures  ]".
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <list>
#include <random>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr long kRows = 1000000;
// Phases shorter than this are too short to tell "writers blocked" from "writers between two
// queries" (each client sleeps kThinkTime between queries, and a brief lock is meant to block).
constexpr auto kMeasurable = 200ms;
// Clients are not a closed loop: an application thinks between queries, and a loop with no pause
// would only compete with the DDL for the 2 cores of the test machine.
constexpr auto kThinkTime = 2ms;

std::string policy_yaml() {
  return "mode: enforce\n"
         "thresholds:\n"
         "  small_table_rows: 1000\n"
         "  lock_timeout: 2s\n"
         "  backfill_batch_rows: 10000\n"
         "rules:\n"
         "  require_lock_timeout: pass\n";
}

const char* kSchema = R"(
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 2000) g;
CREATE TABLE orders (id bigint, customer_id bigint, note text, amount int);
INSERT INTO orders SELECT g, 1 + g % 2000, 'n' || g, g % 100 FROM generate_series(1, 1000000) g;
ALTER TABLE orders ADD PRIMARY KEY (id);
ANALYZE;
)";

// What each test may have left behind, so that the tests do not depend on their order (and a
// failed run does not break the next one). All of it is catalog-only: no table rewrite.
const char* kReset = R"(
SET client_min_messages = warning;
DROP INDEX IF EXISTS orders_customer_id_idx;
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_customer_fk,
  DROP CONSTRAINT IF EXISTS schemagate_orders_note_not_null,
  DROP CONSTRAINT IF EXISTS schemagate_orders_token_not_null,
  DROP COLUMN IF EXISTS token, DROP COLUMN IF EXISTS token_raw,
  ALTER COLUMN note DROP NOT NULL;
)";

/// Ids of inserted rows: above the generated ones, never reused by another test of the suite.
std::atomic<long> next_insert_id{10 * kRows};

/// Two writers (single-row UPDATE and INSERT, alternating) and one reader (SELECT by id), each
/// on its own libpq connection, recording when each query completed and every error.
class Workload {
 public:
  explicit Workload(const std::string& conninfo) {
    for (int i = 0; i < kClients; ++i) threads_.emplace_back([this, conninfo, i] { run(conninfo, i); });
  }
  ~Workload() { stop(); }
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  /// True once every client has completed a few queries: the DDL then starts under load.
  bool wait_running() {
    return eventually([&] {
      for (const auto& n : completed_)
        if (n.load() < 10) return false;
      return true;
    }, 60s);
  }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  /// After stop(): completion times of the writers' queries, merged and sorted; the reader's.
  std::vector<Clock::time_point> writer_times() const {
    std::vector<Clock::time_point> all;
    for (int i = 0; i < kWriters; ++i) all.insert(all.end(), tracks_[i].done.begin(), tracks_[i].done.end());
    std::sort(all.begin(), all.end());
    return all;
  }
  const std::vector<Clock::time_point>& reader_times() const { return tracks_[kWriters].done; }
  std::vector<std::string> errors() const {
    std::vector<std::string> all;
    for (const auto& t : tracks_) all.insert(all.end(), t.errors.begin(), t.errors.end());
    return all;
  }

 private:
  static constexpr int kWriters = 2, kClients = 3;
  struct Track {
    std::vector<Clock::time_point> done;
    std::vector<std::string> errors;
  };

  void run(const std::string& conninfo, int i) {
    Track& track = tracks_[i];
    auto r = pq_connect(conninfo + " application_name=zd-client-" + std::to_string(i));
    if (!r.ok()) {
      track.errors.push_back("connect: " + r.error);
      return;
    }
    std::mt19937_64 rng(static_cast<std::uint64_t>(i) + 1);
    std::uniform_int_distribution<long> any_row(1, kRows);
    track.done.reserve(100000);
    for (long n = 0; !stop_; ++n) {
      const std::string id = std::to_string(any_row(rng));
      QueryResult q;
      if (i == kWriters) {
        q = r.conn.exec_params("SELECT amount FROM orders WHERE id = $1", {id});
      } else if (n % 2 == 0) {
        q = r.conn.exec_params("UPDATE orders SET amount = amount + 1 WHERE id = $1", {id});
      } else {
        const long new_id = next_insert_id++;
        const std::string id_text = std::to_string(new_id), customer = std::to_string(1 + new_id % 2000);
        q = r.conn.exec_params("INSERT INTO orders (id, customer_id, note, amount) VALUES ($1, $2, $3, 1)",
                               {id_text, customer, "w" + id_text});
      }
      const auto at = Clock::now();
      ++completed_[i];
      if (q.ok) {
        track.done.push_back(at);
      } else {
        if (track.errors.size() < 20)
          track.errors.push_back("client " + std::to_string(i) + ": " + q.sqlstate + " " + q.message);
        if (!r.conn.ok()) return;
      }
      std::this_thread::sleep_for(kThinkTime);
    }
  }

  std::atomic<bool> stop_{false};
  std::array<std::atomic<long>, kClients> completed_{};
  std::array<Track, kClients> tracks_;
  std::vector<std::thread> threads_;
};

struct Notice {
  Clock::time_point at;
  std::string text;
};

void record_notice(void* arg, const PGresult* res) {
  static_cast<std::vector<Notice>*>(arg)->push_back({Clock::now(), PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)});
}

/// One DDL statement as a client saw it: when it was sent, when its result came, the NOTICEs in
/// between with their arrival times.
struct DdlRun {
  std::string sql;
  Clock::time_point sent, done;
  QueryResult result;
  std::vector<Notice> notices;
  double seconds() const { return std::chrono::duration<double>(done - sent).count(); }
};

DdlRun run_ddl(const std::string& conninfo, const std::string& sql) {
  DdlRun run;
  run.sql = sql;
  std::vector<Notice> notices;
  {
    auto c = pq_connect_ok(conninfo + " application_name=zd-ddl");
    PQsetNoticeReceiver(c.get(), record_notice, &notices);
    run.sent = Clock::now();
    run.result = c.exec(sql);  // libpq parses each NOTICE as it arrives: the receiver stamps it then
    run.done = Clock::now();
  }
  run.notices = std::move(notices);
  return run;
}

/// A stretch of the timeline: one phase of a plan, or a whole statement.
struct Window {
  std::string label;
  Clock::time_point from, to;
  double seconds() const { return std::chrono::duration<double>(to - from).count(); }
};

/// The phases of a plan: phase i runs from the end of phase i-1 (or the statement's start) to
/// the arrival of its "schemagate: phase i/n done in …: what" NOTICE. `phase_count` gets n.
std::vector<Window> phase_windows(const DdlRun& run, std::size_t& phase_count) {
  std::vector<Window> out;
  phase_count = 0;
  auto from = run.sent;
  for (const auto& n : run.notices) {
    static const std::string kPrefix = "schemagate: phase ";
    const auto done = n.text.find(" done in ");
    if (n.text.rfind(kPrefix, 0) != 0 || done == std::string::npos) continue;
    const std::string which = n.text.substr(kPrefix.size(), done - kPrefix.size());  // "3/7"
    const auto slash = which.find('/');
    if (slash != std::string::npos) phase_count = std::stoul(which.substr(slash + 1));
    const auto colon = n.text.find(": ", done);
    out.push_back({"phase " + which + " " + (colon == std::string::npos ? "" : n.text.substr(colon + 2)), from, n.at});
    from = n.at;
  }
  return out;
}

struct Progress {
  long queries = 0;
  double longest_gap_s = 0;  // the longest stretch of the window in which no query completed
};

Progress progress_in(const std::vector<Clock::time_point>& sorted, const Window& w) {
  Progress p;
  auto prev = w.from;
  for (auto it = std::lower_bound(sorted.begin(), sorted.end(), w.from); it != sorted.end() && *it < w.to; ++it) {
    p.longest_gap_s = std::max(p.longest_gap_s, std::chrono::duration<double>(*it - prev).count());
    prev = *it;
    ++p.queries;
  }
  p.longest_gap_s = std::max(p.longest_gap_s, std::chrono::duration<double>(w.to - prev).count());
  return p;
}

std::string fmt(const char* f, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a);
  return buf;
}

void print_window(const std::string& indent, const Window& w, const Workload& load) {
  const auto wr = progress_in(load.writer_times(), w);
  const auto rd = progress_in(load.reader_times(), w);
  std::cout << "[ figures  ] " << indent << w.label << ": " << fmt("%.3f s", w.seconds()) << ", writers " << wr.queries
            << " queries, longest writer gap " << fmt("%.3f s", wr.longest_gap_s) << ", reader " << rd.queries
            << " queries\n";
}

class ZeroDowntime : public ProxiedPg {
 protected:
  static void SetUpTestSuite() {
    StartCluster();
    const auto t0 = Clock::now();
    auto c = direct();
    const auto r = c.exec(kSchema);
    ASSERT_TRUE(r.ok) << r.message;
    // Hint bits and the visibility map set once here, not by the first statement of a test.
    ASSERT_TRUE(c.exec("VACUUM orders").ok);
    std::cout << "[ figures  ] orders: " << kRows << " rows set up in " << fmt("%.1f s", seconds_since(t0)) << "\n";
    ready_ = true;
  }

  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ASSERT_TRUE(ready_) << "the orders table was not set up (see SetUpTestSuite's failure)";
    const auto r = direct().exec(kReset);
    ASSERT_TRUE(r.ok) << r.message;
    proxy_ = start_proxy("enforce");
  }

  /// A proxy with the test policy; "observe" forwards every statement unchanged (the raw DDL).
  std::unique_ptr<ProxyProcess> start_proxy(const std::string& mode) {
    TempDir& dir = policy_dirs_.emplace_back("sg-policy");
    write_file(dir.file("policy.yaml"), policy_yaml());
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = mode;
    o.extra_args = {"--policy", dir.file("policy.yaml")};
    return ProxyProcess::start(o);
  }

  struct Observed {
    DdlRun run;
    Progress writers;  // over the whole statement
  };
  /// Runs `sql` through the enforcing proxy while the workload runs through it too; expects a
  /// plan whose every phase is reported, no failed client query, and writer progress in every
  /// phase long enough to measure. Prints the timeline per phase.
  Observed expect_writers_progress_in_every_phase(const std::string& sql) {
    SCOPED_TRACE(sql);
    Workload load(proxy_->conninfo());
    EXPECT_TRUE(load.wait_running()) << "the clients did not get going";
    DdlRun run = run_ddl(proxy_->conninfo(), sql);
    load.stop();
    EXPECT_TRUE(run.result.ok) << run.result.sqlstate << " " << run.result.message;
    std::size_t n = 0;
    const auto phases = phase_windows(run, n);
    EXPECT_GT(n, 0u) << "no phase NOTICEs: was the statement rewritten?";
    EXPECT_EQ(phases.size(), n) << "every phase reports its end";

    const std::string phases_text = std::to_string(n) + (n == 1 ? " phase" : " phases");
    const Window whole{sql + " (rewritten, " + phases_text + ")", run.sent, run.done};
    print_window("", whole, load);
    const auto writers = load.writer_times();
    for (const auto& w : phases) {
      print_window("  ", w, load);
      if (w.to - w.from >= kMeasurable) {
        EXPECT_GT(progress_in(writers, w).queries, 0)
            << w.label << " lasted " << w.seconds() << " s without a writer query";
      }
    }
    const auto errors = load.errors();
    EXPECT_TRUE(errors.empty()) << errors.size() << " client queries failed, e.g. " << errors.front();
    return {std::move(run), progress_in(writers, whole)};
  }

  std::string relfilenode() { return direct().scalar("SELECT pg_relation_filenode('orders')"); }

  std::list<TempDir> policy_dirs_;
  static inline bool ready_ = false;
};

TEST_F(ZeroDowntime, IndexForeignKeyAndNotNullKeepWritersMovingInEveryPhase) {
  expect_writers_progress_in_every_phase("CREATE INDEX ON orders (customer_id)");
  expect_writers_progress_in_every_phase(
      "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)");
  expect_writers_progress_in_every_phase("ALTER TABLE orders ALTER COLUMN note SET NOT NULL");

  // And they did what the statements say.
  auto c = direct();
  EXPECT_EQ(c.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_customer_id_idx'::regclass"), "t");
  EXPECT_EQ(c.scalar("SELECT convalidated FROM pg_constraint WHERE conname = 'orders_customer_fk'"), "t");
  EXPECT_EQ(c.scalar("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'note'"),
            "t");
  EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_constraint WHERE conname LIKE 'schemagate_%'"), "0");
}

TEST_F(ZeroDowntime, VolatileDefaultColumnKeepsWritersMovingWhereTheRawStatementStallsThem) {
  const auto before = relfilenode();
  const auto plan = expect_writers_progress_in_every_phase(
      "ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()");
  ASSERT_TRUE(plan.run.result.ok);
  auto c = direct();
  // Backfilled row by row (rows the writers inserted meanwhile got the default), never rewritten.
  EXPECT_EQ(c.scalar("SELECT count(*) FROM orders WHERE token IS NULL"), "0");
  EXPECT_EQ(c.scalar("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'token'"),
            "t");
  EXPECT_EQ(relfilenode(), before);

  // The same statement raw: the writers keep running through the enforcing proxy; the DDL goes
  // through a proxy in observe mode, which forwards it unchanged.
  auto raw_proxy = start_proxy("observe");
  Workload load(proxy_->conninfo());
  ASSERT_TRUE(load.wait_running());
  const auto raw =
      run_ddl(raw_proxy->conninfo(), "ALTER TABLE orders ADD COLUMN token_raw uuid NOT NULL DEFAULT gen_random_uuid()");
  load.stop();
  ASSERT_TRUE(raw.result.ok) << raw.result.message;
  EXPECT_NE(relfilenode(), before) << "the raw statement should have rewritten the table";
  const Window raw_window{raw.sql + " (raw)", raw.sent, raw.done};
  print_window("", raw_window, load);
  const auto errors = load.errors();
  EXPECT_TRUE(errors.empty()) << errors.size() << " client queries failed, e.g. " << errors.front();

  // Raw: the writers were stalled for most of the statement (from the moment its ACCESS
  // EXCLUSIVE lock was granted until it committed). Rewritten: no stall came near that share of
  // the plan (the longest is a brief lock, or a row the current backfill batch holds).
  const auto raw_stall = progress_in(load.writer_times(), raw_window).longest_gap_s;
  const double plan_s = plan.run.seconds();
  std::cout << "[ figures  ] longest writer stall: raw " << fmt("%.2f s", raw_stall) << " of "
            << fmt("%.2f s", raw.seconds()) << fmt(" (%.0f %%)", 100 * raw_stall / raw.seconds()) << "; rewritten "
            << fmt("%.2f s", plan.writers.longest_gap_s) << " of " << fmt("%.2f s", plan_s)
            << fmt(" (%.0f %%)", 100 * plan.writers.longest_gap_s / plan_s) << "\n";
  EXPECT_GE(raw_stall, 0.5 * raw.seconds()) << "the raw rewrite should have blocked the writers throughout";
  EXPECT_LT(plan.writers.longest_gap_s, 0.5 * plan_s) << "the plan should never block the writers for long";
}

}  // namespace
}  // namespace schemagate::testing
