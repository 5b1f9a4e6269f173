#include "proxy/state_store.h"

#include "proxy/sqlite_file.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <mutex>

namespace schemagate::proxy {
namespace {

// The schema this code reads and writes. A newer schemagate migrates older files forward in
// migrate(); an older one refuses a newer file rather than misread it.
constexpr int kSchemaVersion = 2;
// PRAGMA application_id ("SGPJ"): tells our journal apart from any other SQLite file that
// state.path might point at by mistake.
constexpr int kApplicationId = 0x5347504a;

constexpr const char* kCreateSchema = R"(
CREATE TABLE plans (
  id               TEXT PRIMARY KEY,
  statement_hash   TEXT NOT NULL,
  user_name        TEXT NOT NULL,
  database_name    TEXT NOT NULL,
  client_addr      TEXT NOT NULL,
  application_name TEXT NOT NULL,
  statement        TEXT NOT NULL,
  rule_id          TEXT NOT NULL,
  plan_json        TEXT NOT NULL,
  phase_count      INTEGER NOT NULL,
  phases_done      INTEGER NOT NULL,
  rows_backfilled  INTEGER NOT NULL,
  backfill_resume  TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  error            TEXT NOT NULL,
  created_ms       INTEGER NOT NULL,
  updated_ms       INTEGER NOT NULL,
  owner            TEXT NOT NULL DEFAULT '',
  lease_until_ms   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX plans_resumable ON plans (statement_hash, user_name, database_name, created_ms);
CREATE INDEX plans_created ON plans (created_ms);
CREATE INDEX plans_running ON plans (status) WHERE status = 'running';
)";
// Version 1 had no leases: its running entries read as abandoned (owner '', lease 0).
constexpr const char* kUpgradeTo2 =
    "ALTER TABLE plans ADD COLUMN owner TEXT NOT NULL DEFAULT ''; "
    "ALTER TABLE plans ADD COLUMN lease_until_ms INTEGER NOT NULL DEFAULT 0;";

// Column order read_row() expects. rowid breaks ties between entries created in the same ms.
#define SG_PLAN_COLUMNS                                                                                   \
  "id, statement_hash, user_name, database_name, client_addr, application_name, statement, rule_id, " \
  "plan_json, phase_count, phases_done, rows_backfilled, backfill_resume, status, error, created_ms, updated_ms, " \
  "owner, lease_until_ms"
#define SG_NEWEST_FIRST " ORDER BY created_ms DESC, rowid DESC"

constexpr const char* kInsert = "INSERT INTO plans (" SG_PLAN_COLUMNS
                                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";
// Claims an entry: interrupted, or running under the very lease judged abandoned (so that a
// renewal by a live owner in between makes the claim fail).
constexpr const char* kResume =
    "UPDATE plans SET status = 'running', error = '', updated_ms = ?2, owner = ?3, lease_until_ms = ?4 "
    "WHERE id = ?1 AND (status = 'interrupted' OR (?5 AND status = 'running' AND owner = ?6 AND lease_until_ms = ?7))";
constexpr const char* kRenew = "UPDATE plans SET lease_until_ms = ?2 WHERE owner = ?1 AND status = 'running'";
constexpr const char* kRunning = "SELECT id, owner, lease_until_ms FROM plans WHERE status = 'running'";
constexpr const char* kPhaseDone =
    "UPDATE plans SET phases_done = ?2, backfill_resume = '', updated_ms = ?3 "
    "WHERE id = ?1 AND ?2 BETWEEN 0 AND phase_count";
constexpr const char* kBackfill =
    "UPDATE plans SET rows_backfilled = ?2, backfill_resume = ?3, updated_ms = ?4 WHERE id = ?1";
constexpr const char* kFinish = "UPDATE plans SET status = ?2, error = ?3, updated_ms = ?4 WHERE id = ?1";
constexpr const char* kFindResumable = "SELECT " SG_PLAN_COLUMNS
                                       " FROM plans WHERE statement_hash = ?1 AND user_name = ?2 AND database_name = ?3"
                                       " AND status IN ('running', 'interrupted')" SG_NEWEST_FIRST " LIMIT 1";
constexpr const char* kGet = "SELECT " SG_PLAN_COLUMNS " FROM plans WHERE id = ?1";
constexpr const char* kList = "SELECT " SG_PLAN_COLUMNS " FROM plans" SG_NEWEST_FIRST " LIMIT ?1";
constexpr const char* kMarkInterrupted =
    "UPDATE plans SET status = 'interrupted', updated_ms = ?1 "
    "WHERE id = ?2 AND status = 'running' AND owner = ?3 AND lease_until_ms = ?4";
#undef SG_PLAN_COLUMNS
#undef SG_NEWEST_FIRST

std::int64_t now_ms() { return wall_clock_ms(); }

std::string to_hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 0xf];
  }
  return s;
}

/// 64 bits from the CSPRNG: ids are unguessable, so one cannot be probed for by counting.
bool random_id(std::string& out) {
  unsigned char b[8];
  if (RAND_bytes(b, sizeof b) != 1) return false;
  out = to_hex(b, sizeof b);
  return true;
}

using Stmt = SqliteStmt;
using Call = SqliteCall;
std::string column_text(sqlite3_stmt* s, int i) { return sqlite_column_text(s, i); }

/// Reads one row in SG_PLAN_COLUMNS order; false if the status is not one this version knows.
bool read_row(sqlite3_stmt* s, PlanJournalEntry& e) {
  e.id = column_text(s, 0);
  e.statement_hash = column_text(s, 1);
  e.user = column_text(s, 2);
  e.database = column_text(s, 3);
  e.client_addr = column_text(s, 4);
  e.application_name = column_text(s, 5);
  e.statement = column_text(s, 6);
  e.rule_id = column_text(s, 7);
  e.plan_json = column_text(s, 8);
  e.phase_count = sqlite3_column_int(s, 9);
  e.phases_done = sqlite3_column_int(s, 10);
  e.rows_backfilled = sqlite3_column_int64(s, 11);
  e.backfill_resume = column_text(s, 12);
  const auto status = parse_plan_status(column_text(s, 13));
  e.error = column_text(s, 14);
  e.created_ms = sqlite3_column_int64(s, 15);
  e.updated_ms = sqlite3_column_int64(s, 16);
  e.owner = column_text(s, 17);
  e.lease_until_ms = sqlite3_column_int64(s, 18);
  if (!status) return false;
  e.status = *status;
  return true;
}

class SqliteStateStore final : public StateStore {
 public:
  explicit SqliteStateStore(std::string path) : path_(path), file_(std::move(path), "plan journal") {}

  bool open(std::string& error) {
    if (!file_.open(error) || !file_.migrate(kApplicationId, kSchemaVersion, kCreateSchema, error, {kUpgradeTo2}))
      return false;
    owner_ = PlanOwner::this_process();
    if (owner_.token.empty()) {
      error = "plan journal " + path_ + ": RAND_bytes failed";
      return false;
    }
    return prepare(kInsert, insert_, error) && prepare(kResume, resume_, error) &&
           prepare(kRenew, renew_, error) && prepare(kRunning, running_, error) &&
           prepare(kPhaseDone, phase_done_, error) && prepare(kBackfill, backfill_, error) &&
           prepare(kFinish, finish_, error) && prepare(kFindResumable, find_resumable_, error) &&
           prepare(kGet, get_, error) && prepare(kList, list_, error) &&
           prepare(kMarkInterrupted, mark_interrupted_, error);
  }

  bool begin_plan(PlanJournalEntry& e, std::string& error) override {
    if (e.phase_count < 0 || e.phases_done < 0 || e.phases_done > e.phase_count || e.rows_backfilled < 0) {
      error = "plan journal " + path_ + ": begin_plan: phases_done " + std::to_string(e.phases_done) +
              " / phase_count " + std::to_string(e.phase_count) + " / rows_backfilled " +
              std::to_string(e.rows_backfilled) + " out of range";
      return false;
    }
    std::lock_guard lock(mu_);
    e.status = PlanStatus::running;
    e.created_ms = e.updated_ms = now_ms();
    e.owner = owner_.text();
    e.lease_until_ms = e.created_ms + kPlanLeaseMs;
    // 2^64 ids make a collision all but impossible; should one happen, draw again.
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (!random_id(e.id)) {
        error = "plan journal " + path_ + ": begin_plan: RAND_bytes failed";
        return false;
      }
      Call c(insert_.get());
      c.text(e.id).text(e.statement_hash).text(e.user).text(e.database).text(e.client_addr).text(e.application_name);
      c.text(e.statement).text(e.rule_id).text(e.plan_json).integer(e.phase_count).integer(e.phases_done);
      c.integer(e.rows_backfilled).text(e.backfill_resume).text(to_string(e.status)).text(e.error);
      c.integer(e.created_ms).integer(e.updated_ms).text(e.owner).integer(e.lease_until_ms);
      const int rc = c.step();
      if (rc == SQLITE_DONE) return true;
      if (rc != SQLITE_CONSTRAINT_PRIMARYKEY) return fail("begin_plan", error);
    }
    return fail("begin_plan", error);
  }

  bool resume_plan(const std::string& id, std::string& error) override {
    std::lock_guard lock(mu_);
    const auto e = get_locked(id, error);
    if (!e) return error.empty() ? explain_no_change("resume_plan", id, error) : false;
    const std::int64_t now = now_ms();
    const bool abandoned_run = e->status == PlanStatus::running && abandoned(*e, now);
    Call c(resume_.get());
    c.text(id).integer(now).text(owner_.text()).integer(now + kPlanLeaseMs).integer(abandoned_run ? 1 : 0);
    c.text(e->owner).integer(e->lease_until_ms);
    if (c.step() != SQLITE_DONE) return fail("resume_plan", error);
    if (sqlite3_changes(file_.db()) == 1) return true;
    return explain_no_change("resume_plan", id, error);
  }

  bool renew_leases(std::string& error) override {
    std::lock_guard lock(mu_);
    Call c(renew_.get());
    c.text(owner_.text()).integer(now_ms() + kPlanLeaseMs);
    if (c.step() != SQLITE_DONE) return fail("renew_leases", error);
    return true;
  }

  bool abandoned(const PlanJournalEntry& e) const override { return abandoned(e, now_ms()); }

  bool record_phase_done(const std::string& id, int phases_done, std::string& error) override {
    std::lock_guard lock(mu_);
    Call c(phase_done_.get());
    c.text(id).integer(phases_done).integer(now_ms());
    if (c.step() != SQLITE_DONE) return fail("record_phase_done", error);
    if (sqlite3_changes(file_.db()) == 1) return true;
    return explain_no_change("record_phase_done", id, error, phases_done);
  }

  bool record_backfill(const std::string& id, std::int64_t rows, const std::string& resume,
                       std::string& error) override {
    if (rows < 0) {
      error = "plan journal " + path_ + ": record_backfill: negative row count " + std::to_string(rows);
      return false;
    }
    std::lock_guard lock(mu_);
    Call c(backfill_.get());
    c.text(id).integer(rows).text(resume).integer(now_ms());
    if (c.step() != SQLITE_DONE) return fail("record_backfill", error);
    if (sqlite3_changes(file_.db()) == 1) return true;
    return explain_no_change("record_backfill", id, error);
  }

  bool finish_plan(const std::string& id, PlanStatus status, const std::string& error_text,
                   std::string& error) override {
    if (status == PlanStatus::running) {
      error = "plan journal " + path_ + ": finish_plan: 'running' is not a final status";
      return false;
    }
    std::lock_guard lock(mu_);
    Call c(finish_.get());
    c.text(id).text(to_string(status)).text(error_text).integer(now_ms());
    if (c.step() != SQLITE_DONE) return fail("finish_plan", error);
    if (sqlite3_changes(file_.db()) == 1) return true;
    return explain_no_change("finish_plan", id, error);
  }

  std::optional<PlanJournalEntry> find_resumable(const std::string& hash, const std::string& user,
                                                 const std::string& database, std::string& error) override {
    std::lock_guard lock(mu_);
    Call c(find_resumable_.get());
    c.text(hash).text(user).text(database);
    return read_one(c, "find_resumable", error);
  }

  std::optional<PlanJournalEntry> get(const std::string& id, std::string& error) override {
    std::lock_guard lock(mu_);
    return get_locked(id, error);
  }

  std::vector<PlanJournalEntry> list(std::size_t limit, std::string& error) override {
    error.clear();
    std::vector<PlanJournalEntry> out;
    std::lock_guard lock(mu_);
    Call c(list_.get());
    constexpr auto kMax = static_cast<std::size_t>(INT64_MAX);
    c.integer(limit == 0 ? -1 : static_cast<std::int64_t>(std::min(limit, kMax)));  // -1: no limit
    for (;;) {
      const int rc = c.step();
      if (rc == SQLITE_DONE) return out;
      PlanJournalEntry e;
      if (rc != SQLITE_ROW || !read_row(c.stmt(), e)) {
        if (rc == SQLITE_ROW) bad_status("list", e.id, error);
        else fail("list", error);
        return {};
      }
      out.push_back(std::move(e));
    }
  }

  int mark_running_interrupted(std::string& error) override {
    std::lock_guard lock(mu_);
    struct Running {
      std::string id, owner;
      std::int64_t lease_until_ms;
    };
    std::vector<Running> gone;
    const std::int64_t now = now_ms();
    {
      Call c(running_.get());
      for (;;) {
        const int rc = c.step();
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) {
          fail("mark_running_interrupted", error);
          return -1;
        }
        PlanJournalEntry e;
        e.owner = column_text(c.stmt(), 1);
        e.lease_until_ms = sqlite3_column_int64(c.stmt(), 2);
        if (abandoned(e, now)) gone.push_back({column_text(c.stmt(), 0), e.owner, e.lease_until_ms});
      }
    }
    int marked = 0;
    for (const auto& r : gone) {
      Call c(mark_interrupted_.get());
      c.integer(now).text(r.id).text(r.owner).integer(r.lease_until_ms);
      if (c.step() != SQLITE_DONE) {
        fail("mark_running_interrupted", error);
        return -1;
      }
      marked += sqlite3_changes(file_.db());
    }
    return marked;
  }

 private:
  bool fail(const char* op, std::string& error) const { return file_.fail(op, error); }

  // A running entry nobody runs any more: its lease ran out, or it names a process on this host
  // that is gone (a proxy killed and restarted does not wait for its old leases to run out).
  bool abandoned(const PlanJournalEntry& e, std::int64_t now) const {
    if (e.lease_until_ms < now) return true;
    const auto holder = PlanOwner::parse(e.owner);
    return !holder || holder->gone(owner_, e.lease_until_ms);
  }
  bool prepare(const char* sql, Stmt& out, std::string& error) { return file_.prepare(sql, out, error); }

  void bad_status(const char* op, const std::string& id, std::string& error) const {
    error = "plan journal " + path_ + ": " + op + ": entry " + id +
            " has a status this schemagate does not know (written by a newer version?)";
  }

  std::optional<PlanJournalEntry> read_one(Call& c, const char* op, std::string& error) {
    error.clear();
    const int rc = c.step();
    if (rc == SQLITE_DONE) return std::nullopt;
    PlanJournalEntry e;
    if (rc != SQLITE_ROW) {
      fail(op, error);
      return std::nullopt;
    }
    if (!read_row(c.stmt(), e)) {
      bad_status(op, e.id, error);
      return std::nullopt;
    }
    return e;
  }

  std::optional<PlanJournalEntry> get_locked(const std::string& id, std::string& error) {
    Call c(get_.get());
    c.text(id);
    return read_one(c, "get", error);
  }

  /// An UPDATE matched no row: says why (no such plan, wrong status, phase out of range).
  bool explain_no_change(const char* op, const std::string& id, std::string& error, int phases_done = 0) {
    const auto e = get_locked(id, error);
    if (!error.empty()) return false;
    const std::string what = "plan journal " + path_ + ": " + op + ": ";
    const std::string_view o(op);
    if (!e) error = what + "no plan with id " + id;
    else if (o == "resume_plan" && e->status == PlanStatus::running)
      error = what + "plan " + id + " is running, not interrupted (held by " + e->owner + ")";
    else if (o == "resume_plan") error = what + "plan " + id + " is " + to_string(e->status) + ", not interrupted";
    else if (o == "record_phase_done")
      error = what + "phases_done " + std::to_string(phases_done) + " is out of range for plan " + id + " (0 to " +
              std::to_string(e->phase_count) + ")";
    else error = what + "plan " + id + " was not updated";
    return false;
  }

  const std::string path_;
  std::mutex mu_;     // one connection, one statement at a time
  SqliteFile file_;   // declared before the statements: destroyed after them
  PlanOwner owner_;
  Stmt insert_, resume_, renew_, running_, phase_done_, backfill_, finish_, find_resumable_, get_, list_,
      mark_interrupted_;
};

}  // namespace

std::string PlanOwner::text() const { return host + "/" + std::to_string(pid) + "/" + token; }

std::optional<PlanOwner> PlanOwner::parse(std::string_view text) {
  const auto last = text.rfind('/');
  if (last == std::string_view::npos || last == 0) return std::nullopt;
  const auto mid = text.rfind('/', last - 1);
  if (mid == std::string_view::npos) return std::nullopt;
  PlanOwner o;
  o.host = std::string(text.substr(0, mid));
  const auto pid = text.substr(mid + 1, last - mid - 1);
  if (std::from_chars(pid.data(), pid.data() + pid.size(), o.pid).ec != std::errc{} || o.pid <= 0) return std::nullopt;
  o.token = std::string(text.substr(last + 1));
  return o;
}

PlanOwner PlanOwner::this_process() {
  PlanOwner o;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) o.host = host;
  o.pid = static_cast<long>(::getpid());
  static const std::int64_t started = wall_clock_ms();  // before this process renewed any lease
  o.started_ms = started;
  unsigned char b[6];
  if (RAND_bytes(b, sizeof b) == 1) o.token = to_hex(b, sizeof b);
  return o;
}

bool PlanOwner::gone(const PlanOwner& self, std::int64_t lease_until_ms) const {
  if (host != self.host) return false;
  if (pid == self.pid) return token != self.token && lease_until_ms - kPlanLeaseMs < self.started_ms;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

const char* to_string(PlanStatus s) {
  switch (s) {
    case PlanStatus::running: return "running";
    case PlanStatus::succeeded: return "succeeded";
    case PlanStatus::failed: return "failed";
    case PlanStatus::interrupted: return "interrupted";
  }
  return "?";
}

std::optional<PlanStatus> parse_plan_status(std::string_view text) {
  for (auto s : {PlanStatus::running, PlanStatus::succeeded, PlanStatus::failed, PlanStatus::interrupted})
    if (text == to_string(s)) return s;
  return std::nullopt;
}

std::string statement_hash(std::string_view statement) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(statement.data(), statement.size(), md, &n, EVP_sha256(), nullptr) != 1) return "";
  return to_hex(md, n);
}

std::unique_ptr<StateStore> open_sqlite_state_store(const std::string& path, std::string& error) {
  auto store = std::make_unique<SqliteStateStore>(path);
  if (!store->open(error)) return nullptr;
  return store;
}

}  // namespace schemagate::proxy
