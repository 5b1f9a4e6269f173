#include <mutex>

#include "proxy/approvals/request_store.h"
#include "proxy/sqlite_file.h"

namespace schemagate::proxy::approvals {
namespace {

constexpr int kSchemaVersion = 1;
constexpr int kApplicationId = 0x53474152;  // "SGAR": a schemagate approvals store

// The columns beside `body` are copies for filtering; `body` (to_json_text) is authoritative.
// The PostgreSQL backend has the same shape.
constexpr const char* kCreateSchema = R"(
CREATE TABLE requests (
  id             TEXT PRIMARY KEY,
  status         TEXT NOT NULL,
  statement_hash TEXT NOT NULL,
  user_name      TEXT NOT NULL,
  database_name  TEXT NOT NULL,
  created_ms     INTEGER NOT NULL,
  expires_ms     INTEGER NOT NULL,
  valid_until_ms INTEGER NOT NULL,
  body           TEXT NOT NULL
);
CREATE INDEX requests_key ON requests (statement_hash, user_name, database_name, created_ms);
CREATE INDEX requests_status ON requests (status, created_ms);
)";

constexpr const char* kInsert =
    "INSERT INTO requests (id, status, statement_hash, user_name, database_name, created_ms, expires_ms, "
    "valid_until_ms, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
constexpr const char* kWrite =
    "UPDATE requests SET status = ?2, expires_ms = ?3, valid_until_ms = ?4, body = ?5 WHERE id = ?1";
constexpr const char* kGet = "SELECT body FROM requests WHERE id = ?1";
// ?1 = '' lists every status.
constexpr const char* kList =
    "SELECT body FROM requests WHERE (?1 = '' OR status = ?1) ORDER BY created_ms DESC, rowid DESC LIMIT ?2";
constexpr const char* kFindApproved =
    "SELECT body FROM requests WHERE statement_hash = ?1 AND user_name = ?2 AND database_name = ?3 "
    "AND status = 'approved' AND valid_until_ms > ?4 ORDER BY created_ms DESC, rowid DESC LIMIT 1";
constexpr const char* kFindPending =
    "SELECT body FROM requests WHERE statement_hash = ?1 AND user_name = ?2 AND database_name = ?3 "
    "AND status = 'pending' ORDER BY created_ms DESC, rowid DESC LIMIT 1";
constexpr const char* kDue = "SELECT body FROM requests WHERE status = 'pending' AND expires_ms <= ?1";

class SqliteRequestStore final : public RequestStore {
 public:
  explicit SqliteRequestStore(const std::string& path) : file_(path, "approvals store") {}

  bool open(std::string& error) {
    return file_.open(error) && file_.migrate(kApplicationId, kSchemaVersion, kCreateSchema, error) &&
           file_.prepare(kInsert, insert_, error) && file_.prepare(kWrite, write_, error) &&
           file_.prepare(kGet, get_, error) && file_.prepare(kList, list_, error) &&
           file_.prepare(kFindApproved, find_approved_, error) && file_.prepare(kFindPending, find_pending_, error) &&
           file_.prepare(kDue, due_, error);
  }

  bool create(const ApprovalRequest& r, std::string& error) override {
    std::lock_guard lock(mu_);
    SqliteCall c(insert_.get());
    c.text(r.id).text(to_string(r.status)).text(r.statement_hash).text(r.user).text(r.database);
    c.integer(r.created_ms).integer(r.expires_ms).integer(r.valid_until_ms).text(to_json_text(r));
    return c.step() == SQLITE_DONE || file_.fail("create", error);
  }

  std::optional<ApprovalRequest> get(const std::string& id, std::string& error) override {
    std::lock_guard lock(mu_);
    return get_locked(id, error);
  }

  std::vector<ApprovalRequest> list(std::optional<RequestStatus> status, std::size_t limit,
                                    std::string& error) override {
    std::lock_guard lock(mu_);
    SqliteCall c(list_.get());
    c.text(status ? to_string(*status) : "").integer(limit == 0 ? -1 : static_cast<std::int64_t>(limit));
    return read_all(c, "list", error);
  }

  std::optional<bool> update(const std::string& id, const std::function<bool(ApprovalRequest&)>& change,
                             ApprovalRequest& after, std::string& error) override {
    std::lock_guard lock(mu_);
    // IMMEDIATE: the write lock is taken before the read, so another process sharing the file
    // cannot change the request between our read and our write.
    if (!file_.exec("BEGIN IMMEDIATE", "update", error)) return std::nullopt;
    auto current = get_locked(id, error);
    if (!current) {
      rollback();
      return std::nullopt;
    }
    const bool changed = change(*current);
    if (changed && !write_locked(*current, error)) {
      rollback();
      return std::nullopt;
    }
    if (!file_.exec("COMMIT", "update", error)) {
      rollback();
      return std::nullopt;
    }
    after = std::move(*current);
    return changed;
  }

  std::optional<ApprovalRequest> find_approved(const std::string& hash, const std::string& user,
                                               const std::string& database, std::int64_t now_ms,
                                               std::string& error) override {
    std::lock_guard lock(mu_);
    SqliteCall c(find_approved_.get());
    c.text(hash).text(user).text(database).integer(now_ms);
    return read_first(c, "find_approved", error);
  }

  std::optional<ApprovalRequest> find_pending(const std::string& hash, const std::string& user,
                                              const std::string& database, std::string& error) override {
    std::lock_guard lock(mu_);
    SqliteCall c(find_pending_.get());
    c.text(hash).text(user).text(database);
    return read_first(c, "find_pending", error);
  }

  std::vector<ApprovalRequest> expire_due(std::int64_t now_ms, std::string& error) override {
    std::lock_guard lock(mu_);
    if (!file_.exec("BEGIN IMMEDIATE", "expire_due", error)) return {};
    std::vector<ApprovalRequest> due;
    {
      SqliteCall c(due_.get());
      c.integer(now_ms);
      due = read_all(c, "expire_due", error);
    }
    std::vector<ApprovalRequest> expired;
    for (auto& r : due) {
      if (!expire_if_due(r, now_ms)) continue;
      if (!write_locked(r, error)) {
        rollback();
        return {};
      }
      expired.push_back(std::move(r));
    }
    if (!file_.exec("COMMIT", "expire_due", error)) {
      rollback();
      return {};
    }
    return expired;
  }

 private:
  void rollback() { sqlite3_exec(file_.db(), "ROLLBACK", nullptr, nullptr, nullptr); }

  bool write_locked(const ApprovalRequest& r, std::string& error) {
    SqliteCall c(write_.get());
    c.text(r.id).text(to_string(r.status)).integer(r.expires_ms).integer(r.valid_until_ms).text(to_json_text(r));
    return c.step() == SQLITE_DONE || file_.fail("update", error);
  }

  std::optional<ApprovalRequest> get_locked(const std::string& id, std::string& error) {
    SqliteCall c(get_.get());
    c.text(id);
    return read_first(c, "get", error);
  }

  /// One row's body decoded; false (with `error`) on a row this version cannot read.
  bool decode(SqliteCall& c, const char* op, ApprovalRequest& out, std::string& error) {
    std::string why;
    if (from_json_text(sqlite_column_text(c.stmt(), 0), out, why)) return true;
    error = file_.prefix() + op + ": unreadable request: " + why;
    return false;
  }

  std::optional<ApprovalRequest> read_first(SqliteCall& c, const char* op, std::string& error) {
    error.clear();
    const int rc = c.step();
    if (rc == SQLITE_DONE) return std::nullopt;
    ApprovalRequest r;
    if (rc != SQLITE_ROW) {
      file_.fail(op, error);
      return std::nullopt;
    }
    if (!decode(c, op, r, error)) return std::nullopt;
    return r;
  }

  std::vector<ApprovalRequest> read_all(SqliteCall& c, const char* op, std::string& error) {
    error.clear();
    std::vector<ApprovalRequest> out;
    for (;;) {
      const int rc = c.step();
      if (rc == SQLITE_DONE) return out;
      ApprovalRequest r;
      if (rc != SQLITE_ROW) {
        file_.fail(op, error);
        return {};
      }
      if (!decode(c, op, r, error)) return {};
      out.push_back(std::move(r));
    }
  }

  std::mutex mu_;
  SqliteFile file_;  // declared before the statements: destroyed after them
  SqliteStmt insert_, write_, get_, list_, find_approved_, find_pending_, due_;
};

}  // namespace

std::unique_ptr<RequestStore> open_sqlite_request_store(const std::string& path, std::string& error) {
  auto store = std::make_unique<SqliteRequestStore>(path);
  if (!store->open(error)) return nullptr;
  return store;
}

std::unique_ptr<RequestStore> open_request_store(const config::Config& cfg, std::string& error) {
  const auto& st = cfg.approvals.store;
  auto store = st.backend == config::ApprovalStore::Backend::postgres ? open_postgres_request_store(st, error)
                                                                      : open_sqlite_request_store(st.path, error);
  if (!store) error = "approvals.store: " + error;
  return store;
}

}  // namespace schemagate::proxy::approvals
