#pragma once
// libpq helpers: RAII connections, results as plain values, SQLSTATEs of connection failures.
#include <libpq-fe.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace schemagate::testing {

/// The outcome of one statement: rows as text (nullopt = NULL), or the error's SQLSTATE and message.
struct QueryResult {
  bool ok = false;
  ExecStatusType status = PGRES_FATAL_ERROR;
  std::string sqlstate;
  std::string message;  // primary error message (or libpq's text when there is no result)
  std::string command_status;
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;

  static QueryResult from(PGresult* res, PGconn* conn);  // takes ownership of res
  /// Value of row r, column c ("" for NULL). Asserts nothing: check ok/rows first.
  std::string value(std::size_t r = 0, std::size_t c = 0) const;
};

/// An owned PGconn.
class PgConn {
 public:
  PgConn() = default;
  explicit PgConn(PGconn* c) : conn_(c) {}
  ~PgConn() { reset(); }
  PgConn(PgConn&& o) noexcept : conn_(o.conn_) { o.conn_ = nullptr; }
  PgConn& operator=(PgConn&& o) noexcept;
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  PGconn* get() const { return conn_; }
  PGconn* release() {
    PGconn* c = conn_;
    conn_ = nullptr;
    return c;
  }
  bool ok() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }
  std::string error() const { return conn_ ? PQerrorMessage(conn_) : "no connection"; }
  void reset();

  QueryResult exec(const std::string& sql) const;
  QueryResult exec_params(const std::string& sql, const std::vector<std::optional<std::string>>& params) const;
  /// Shorthand: first column of the first row; "" (and a gtest failure) on error.
  std::string scalar(const std::string& sql) const;
  int backend_pid() const { return conn_ ? PQbackendPID(conn_) : 0; }

 private:
  PGconn* conn_ = nullptr;
};

/// The result of opening a connection: the connection, or the server's SQLSTATE and message.
struct ConnectResult {
  PgConn conn;
  std::string sqlstate;  // "" when the failure did not come from an ErrorResponse
  std::string error;     // libpq's full error text
  bool ok() const { return conn.ok(); }
};

/// Connects with verbose error reporting so that a FATAL during startup/authentication keeps
/// its SQLSTATE (libpq otherwise only keeps the text).
ConnectResult pq_connect(const std::string& conninfo,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Connects and fails the current test (ADD_FAILURE) when the connection does not open.
PgConn pq_connect_ok(const std::string& conninfo);

/// Extracts "XXXXX" from a verbose libpq message like "FATAL:  28P01: password authentication failed".
std::string sqlstate_in(const std::string& verbose_message);

/// Reads the results of one query sent with PQsendQuery*: the last one, except that the first
/// error wins; stops at a COPY_IN/COPY_OUT result (the caller continues the COPY).
QueryResult drain_results(PGconn* conn);

}  // namespace schemagate::testing
