#pragma once
// One SQLite file opened the way schemagate's stores need it: the location checked first
// (with messages SQLite would not give), WAL journal mode, a busy timeout, cached prepared
// statements and a binder that resets them. Used by the plan journal and the approvals store;
// not thread-safe by itself (each store serializes its connection with a mutex).
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include <string_view>

namespace schemagate::proxy {

struct FinalizeSqliteStmt {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using SqliteStmt = std::unique_ptr<sqlite3_stmt, FinalizeSqliteStmt>;

/// Binds parameters 1, 2, ... in order, remembering the first failure; resets the statement
/// (and drops the bindings) when it goes out of scope, so a cached statement is always ready.
class SqliteCall {
 public:
  explicit SqliteCall(sqlite3_stmt* s) : s_(s) {}
  ~SqliteCall() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  SqliteCall(const SqliteCall&) = delete;
  SqliteCall& operator=(const SqliteCall&) = delete;

  SqliteCall& text(std::string_view v) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_text64(s_, next_, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    ++next_;
    return *this;
  }
  SqliteCall& integer(std::int64_t v) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(s_, next_, v);
    ++next_;
    return *this;
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code (a failed bind included).
  int step() { return rc_ == SQLITE_OK ? sqlite3_step(s_) : rc_; }
  sqlite3_stmt* stmt() const { return s_; }

 private:
  sqlite3_stmt* s_;
  int next_ = 1;
  int rc_ = SQLITE_OK;
};

std::string sqlite_column_text(sqlite3_stmt* s, int i);

class SqliteFile {
 public:
  /// `label` names the file in every error ("plan journal", "approvals store").
  SqliteFile(std::string path, std::string label) : path_(std::move(path)), label_(std::move(label)) {}

  /// Checks the location, opens (creating) the file, switches to WAL and synchronous=NORMAL.
  bool open(std::string& error);
  /// Creates the schema in a new file, or checks an existing one against `application_id`
  /// and `schema_version` (BEGIN IMMEDIATE: two processes opening a fresh file create it once).
  /// `upgrades[i]` is the SQL that takes a file from version i + 1 to i + 2; an older file is
  /// brought forward through them in the same transaction.
  bool migrate(int application_id, int schema_version, const char* create_schema, std::string& error,
               const std::vector<const char*>& upgrades = {});

  /// Runs constant SQL (never text from outside: that is bound to prepared statements).
  bool exec(const std::string& sql, const char* op, std::string& error);
  bool prepare(const char* sql, SqliteStmt& out, std::string& error);
  /// Runs a statement that returns one value, as text.
  bool pragma(const char* sql, std::string& value, std::string& error);
  /// Every error names the file and the operation: "plan journal PATH: OP: message".
  bool fail(const char* op, std::string& error) const;
  std::string prefix() const { return label_ + " " + path_ + ": "; }

  sqlite3* db() const { return db_.get(); }
  const std::string& path() const { return path_; }

 private:
  struct CloseDb {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  bool check_location(std::string& error) const;
  bool switch_to_wal(std::string& mode, std::string& error);

  const std::string path_;
  const std::string label_;
  std::unique_ptr<sqlite3, CloseDb> db_;
};

/// Wall clock, ms since the Unix epoch.
std::int64_t wall_clock_ms();

}  // namespace schemagate::proxy
