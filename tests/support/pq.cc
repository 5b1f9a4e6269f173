#include "tests/support/pq.h"

#include <gtest/gtest.h>
#include <poll.h>


namespace schemagate::testing {

QueryResult QueryResult::from(PGresult* res, PGconn* conn) {
  QueryResult r;
  if (!res) {
    r.message = conn ? PQerrorMessage(conn) : "no result";
    return r;
  }
  r.status = PQresultStatus(res);
  r.ok = r.status == PGRES_COMMAND_OK || r.status == PGRES_TUPLES_OK || r.status == PGRES_COPY_IN ||
         r.status == PGRES_COPY_OUT || r.status == PGRES_EMPTY_QUERY || r.status == PGRES_SINGLE_TUPLE ||
         r.status == PGRES_PIPELINE_SYNC;
  if (const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE)) r.sqlstate = s;
  if (const char* m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) r.message = m;
  else if (!r.ok) r.message = PQresultErrorMessage(res);
  r.command_status = PQcmdStatus(res);
  for (int c = 0; c < PQnfields(res); ++c) {
    const char* name = PQfname(res, c);  // NULL for the columns of a COPY result
    r.columns.emplace_back(name ? name : "");
  }
  for (int i = 0; i < PQntuples(res); ++i) {
    std::vector<std::optional<std::string>> row;
    for (int c = 0; c < PQnfields(res); ++c) {
      if (PQgetisnull(res, i, c)) row.emplace_back(std::nullopt);
      else row.emplace_back(std::string(PQgetvalue(res, i, c), static_cast<std::size_t>(PQgetlength(res, i, c))));
    }
    r.rows.push_back(std::move(row));
  }
  PQclear(res);
  return r;
}

std::string QueryResult::value(std::size_t r, std::size_t c) const {
  if (r >= rows.size() || c >= rows[r].size() || !rows[r][c]) return "";
  return *rows[r][c];
}

PgConn& PgConn::operator=(PgConn&& o) noexcept {
  if (this != &o) {
    reset();
    conn_ = o.conn_;
    o.conn_ = nullptr;
  }
  return *this;
}

void PgConn::reset() {
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
}

QueryResult PgConn::exec(const std::string& sql) const {
  if (!PQsendQuery(conn_, sql.c_str())) return QueryResult::from(nullptr, conn_);
  return drain_results(conn_);
}

QueryResult PgConn::exec_params(const std::string& sql, const std::vector<std::optional<std::string>>& params) const {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (!PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr,
                         0))
    return QueryResult::from(nullptr, conn_);
  return drain_results(conn_);
}

std::string PgConn::scalar(const std::string& sql) const {
  const auto r = exec(sql);
  EXPECT_TRUE(r.ok) << sql << ": " << r.sqlstate << " " << r.message;
  EXPECT_FALSE(r.rows.empty()) << sql;
  return r.value();
}

std::string sqlstate_in(const std::string& msg) {
  // "FATAL:  28P01: password authentication failed ..." (verbose libpq messages)
  for (const char* sev : {"FATAL:  ", "ERROR:  ", "PANIC:  "}) {
    for (auto pos = msg.find(sev); pos != std::string::npos; pos = msg.find(sev, pos + 1)) {
      const auto code = pos + std::string(sev).size();
      if (code + 7 > msg.size() || msg.compare(code + 5, 2, ": ") != 0) continue;
      bool ok = true;
      for (std::size_t i = code; i < code + 5; ++i)
        ok = ok && ((msg[i] >= '0' && msg[i] <= '9') || (msg[i] >= 'A' && msg[i] <= 'Z'));
      if (ok) return msg.substr(code, 5);
    }
  }
  return "";
}

ConnectResult pq_connect(const std::string& conninfo, std::chrono::milliseconds timeout) {
  ConnectResult out;
  PGconn* c = PQconnectStart(conninfo.c_str());
  out.conn = PgConn(c);
  if (!c) {
    out.error = "out of memory";
    return out;
  }
  PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (PQstatus(c) != CONNECTION_BAD) {
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) break;
    pollfd p{PQsocket(c), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      out.error = "timed out connecting";
      out.conn.reset();
      return out;
    }
    if (p.fd >= 0) ::poll(&p, 1, static_cast<int>(std::min<long>(left, 1000)));
    st = PQconnectPoll(c);
  }
  if (PQstatus(c) == CONNECTION_OK) {
    PQsetErrorVerbosity(c, PQERRORS_DEFAULT);
    return out;
  }
  out.error = PQerrorMessage(c);
  out.sqlstate = sqlstate_in(out.error);
  return out;
}

PgConn pq_connect_ok(const std::string& conninfo) {
  auto r = pq_connect(conninfo);
  if (!r.ok()) ADD_FAILURE() << "connect failed (" << conninfo << "): " << r.error;
  return std::move(r.conn);
}

QueryResult drain_results(PGconn* conn) {
  // Like PQexec, but the first error wins: when the server sends a FATAL and closes, libpq
  // adds its own "server closed the connection" result, which has no SQLSTATE.
  QueryResult last;
  bool any = false;
  while (PGresult* res = PQgetResult(conn)) {
    const auto st = PQresultStatus(res);
    auto r = QueryResult::from(res, conn);
    if (!any || last.ok) last = std::move(r);
    any = true;
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) break;  // the caller continues the COPY
  }
  if (!any) last = QueryResult::from(nullptr, conn);
  return last;
}

}  // namespace schemagate::testing
