#include "proxy/sqlite_file.h"

#include <cstdlib>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <system_error>
#include <thread>

namespace schemagate::proxy {
namespace {

// Several proxies on one host and the CLI may have the file open; a writer waits this long for
// another's transaction (each of ours is short).
constexpr int kBusyTimeoutMs = 5000;

}  // namespace

std::string sqlite_column_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

std::int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool SqliteFile::check_location(std::string& error) const {
  // What SQLite would only report as "unable to open database file": WAL mode also creates
  // PATH-wal and PATH-shm beside the file, so the directory itself must be writable.
  namespace fs = std::filesystem;
  const std::string what = "cannot open " + label_ + " '" + path_ + "': ";
  if (path_.empty()) {
    error = "cannot open " + label_ + ": the path is empty";
    return false;
  }
  std::error_code ec;
  const fs::path p(path_);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const auto dir_status = fs::status(dir, ec);
  if (!fs::exists(dir_status)) {
    error = what + "directory '" + dir.string() + "' does not exist";
    return false;
  }
  if (!fs::is_directory(dir_status)) {
    error = what + "'" + dir.string() + "' is not a directory";
    return false;
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    error = what + "directory '" + dir.string() + "' is not writable (SQLite keeps its -wal and -shm files there)";
    return false;
  }
  const auto file_status = fs::status(p, ec);
  if (fs::is_directory(file_status)) {
    error = what + "it is a directory";
    return false;
  }
  if (fs::exists(file_status) && ::access(path_.c_str(), R_OK | W_OK) != 0) {
    error = what + "the file is not readable and writable";
    return false;
  }
  return true;
}

bool SqliteFile::open(std::string& error) {
  if (path_ != ":memory:" && !check_location(error)) return false;
  sqlite3* raw = nullptr;
  // NOMUTEX: the owning store's mutex already serializes every use of the connection.
  constexpr int kFlags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path_.c_str(), &raw, kFlags, nullptr);
  db_.reset(raw);  // sqlite hands out a handle (holding the message) even when opening fails
  if (rc != SQLITE_OK) return fail("open", error);
  sqlite3_extended_result_codes(db_.get(), 1);
  sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);
  // WAL: readers (the CLI, other proxies) never block the writer; NORMAL: an fsync per
  // checkpoint, not per commit. A power cut may lose the last records, never the file's
  // consistency.
  std::string mode;
  if (!switch_to_wal(mode, error)) return false;
  if (mode != "wal" && mode != "memory") {
    error = prefix() + "cannot use WAL journal mode (SQLite chose '" + mode + "'; a network file system?)";
    return false;
  }
  return exec("PRAGMA synchronous = NORMAL", "set synchronous", error);
}

bool SqliteFile::fail(const char* op, std::string& error) const {
  error = prefix() + op + ": " + (db_ ? sqlite3_errmsg(db_.get()) : "out of memory");
  return false;
}

bool SqliteFile::exec(const std::string& sql, const char* op, std::string& error) {
  return sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK || fail(op, error);
}

bool SqliteFile::prepare(const char* sql, SqliteStmt& out, std::string& error) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
    return fail("prepare", error);
  out.reset(s);
  return true;
}

bool SqliteFile::pragma(const char* sql, std::string& value, std::string& error) {
  SqliteStmt s;
  if (!prepare(sql, s, error)) return false;
  SqliteCall c(s.get());
  const int rc = c.step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(sql, error);
  value = rc == SQLITE_ROW ? sqlite_column_text(s.get(), 0) : "";
  return true;
}

bool SqliteFile::switch_to_wal(std::string& mode, std::string& error) {
  // Retried while another connection holds the file: SQLite answers SQLITE_BUSY here at once,
  // without the busy handler (several proxies starting together on a new file).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  for (;;) {
    SqliteStmt s;
    if (!prepare("PRAGMA journal_mode = WAL", s, error)) return false;
    SqliteCall c(s.get());
    const int rc = c.step();
    if (rc == SQLITE_ROW) {
      mode = sqlite_column_text(s.get(), 0);
      return true;
    }
    const bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
    if (!busy || std::chrono::steady_clock::now() >= deadline) return fail("set WAL journal mode", error);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool SqliteFile::migrate(int application_id, int schema_version, const char* create_schema, std::string& error,
                         const std::vector<const char*>& upgrades) {
  if (!exec("BEGIN IMMEDIATE", "migrate", error)) return false;
  std::string app_id, version, tables;
  bool ok = pragma("PRAGMA application_id", app_id, error) && pragma("PRAGMA user_version", version, error) &&
            pragma("SELECT count(*) FROM sqlite_schema", tables, error);
  if (ok && app_id == "0" && version == "0" && tables == "0") {
    ok = exec(create_schema, "create schema", error) &&
         exec("PRAGMA application_id = " + std::to_string(application_id), "create schema", error) &&
         exec("PRAGMA user_version = " + std::to_string(schema_version), "create schema", error);
  } else if (ok && app_id != std::to_string(application_id)) {
    error = prefix() + "not a schemagate " + label_ + " (another application's SQLite file?)";
    ok = false;
  } else if (ok && version != std::to_string(schema_version)) {
    const int from = std::atoi(version.c_str());
    if (from >= 1 && from < schema_version && static_cast<std::size_t>(schema_version - 1) <= upgrades.size()) {
      for (int v = from; ok && v < schema_version; ++v)
        ok = exec(upgrades[static_cast<std::size_t>(v - 1)], "upgrade schema", error);
      ok = ok && exec("PRAGMA user_version = " + std::to_string(schema_version), "upgrade schema", error);
    } else {
      error = prefix() + "schema version " + version + " is not supported by this schemagate (" +
              std::to_string(schema_version) + "); written by a newer version?";
      ok = false;
    }
  }
  if (!ok) {
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  }
  return exec("COMMIT", "migrate", error);
}

}  // namespace schemagate::proxy
