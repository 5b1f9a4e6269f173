// The PostgreSQL backend of the approval request store: one schema shared by every replica.
//
// Table <schema>.requests holds each request as its JSON text (`body`, authoritative) plus
// copies of the fields the queries filter on. Every change is followed, in the same
// transaction, by pg_notify('<schema>_requests', id); a LISTEN thread on a second connection
// turns those into on_change(id), so a waiting client on another replica wakes within
// milliseconds. While that connection is down (server restart, network), notifications are
// lost; the registry's poll fallback (approvals.store.poll_ms) covers the gap.
//
// Nothing here builds SQL from input: the schema name is quoted with PQescapeIdentifier once,
// and every value is a parameter.
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "proxy/approvals/request_store.h"

namespace schemagate::proxy::approvals {
namespace {

// The table layout this code reads and writes; an older schemagate refuses a newer schema.
constexpr int kSchemaVersion = 1;
// The notification channel is "<schema>_requests" and must fit NAMEDATALEN - 1 (63) bytes.
constexpr std::size_t kMaxSchemaBytes = 63 - (sizeof("_requests") - 1);
constexpr auto kBackoffFirst = std::chrono::seconds(1);
constexpr auto kBackoffMax = std::chrono::seconds(30);

// Settings of the command session: a statement or lock wait never hangs a caller (the admin
// API's thread, a session's store call) for long.
constexpr const char* kSessionSetup =
    "SET statement_timeout = '10s'; SET lock_timeout = '5s'; SET idle_in_transaction_session_timeout = '60s'";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

/// libpq's message on one line (it ends in a newline and indents continuation lines).
std::string trimmed(const std::string& s) {
  std::string out;
  for (const char c : s) {
    const bool space = c == '\n' || c == '\t' || c == ' ';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out.push_back(space ? ' ' : c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

void quiet_notice(void* /*arg*/, const char* message) {
  spdlog::debug("approvals store: server notice: {}", trimmed(message));
}

/// Stable 64-bit key for pg_advisory_xact_lock (FNV-1a): the same in every replica and version.
std::int64_t advisory_key(const std::string& text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return static_cast<std::int64_t>(h);
}

std::string quote_identifier(PGconn* c, const std::string& name) {
  char* q = PQescapeIdentifier(c, name.data(), name.size());
  if (!q) return "";
  std::string out(q);
  PQfreemem(q);
  return out;
}

/// The DSN parsed once, plus our defaults for what it leaves unset. Never logged as a whole:
/// describe() names the endpoint without credentials.
class ConnParams {
 public:
  bool parse(const std::string& dsn, std::string& error) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
    if (!opts) {
      error = "approvals.store.dsn is not a valid libpq connection string: " + trimmed(err ? err : "out of memory");
      if (err) PQfreemem(err);
      return false;
    }
    for (PQconninfoOption* o = opts; o->keyword; ++o)
      if (o->val) set(o->keyword, o->val);
    PQconninfoFree(opts);
    // A server that does not answer must not hang open() or a reconnect.
    if (!has("connect_timeout") && !std::getenv("PGCONNECT_TIMEOUT")) set("connect_timeout", "5");
    // A peer that vanished without a FIN is noticed in about half a minute, not hours.
    if (!has("keepalives_idle")) set("keepalives_idle", "15");
    if (!has("keepalives_interval")) set("keepalives_interval", "5");
    if (!has("keepalives_count")) set("keepalives_count", "3");
    if (!has("application_name") && !std::getenv("PGAPPNAME")) set("application_name", "schemagate-approvals");
    return true;
  }

  PGconn* connect() const {
    Arrays a(*this);
    return PQconnectdbParams(a.keys.data(), a.values.data(), 0);
  }
  PGconn* connect_start() const {
    Arrays a(*this);
    return PQconnectStartParams(a.keys.data(), a.values.data(), 0);
  }

  /// How long the listener's asynchronous connect may take (libpq only applies connect_timeout
  /// to blocking connects).
  std::chrono::seconds connect_timeout() const {
    const char* env = std::getenv("PGCONNECT_TIMEOUT");
    const std::string v = has("connect_timeout") ? get("connect_timeout") : (env ? env : "5");
    const long s = std::strtol(v.c_str(), nullptr, 10);
    return std::chrono::seconds(s <= 0 ? 30 : std::max(2L, s));
  }

  /// host:port/dbname, for logs and errors.
  std::string describe() const {
    std::string host = has("host") ? get("host") : (has("hostaddr") ? get("hostaddr") : "(default host)");
    std::string out = host;
    if (has("port")) out += ":" + get("port");
    if (has("dbname")) out += "/" + get("dbname");
    return out;
  }

 private:
  struct Arrays {
    explicit Arrays(const ConnParams& p) {
      for (std::size_t i = 0; i < p.keys_.size(); ++i) {
        keys.push_back(p.keys_[i].c_str());
        values.push_back(p.values_[i].c_str());
      }
      keys.push_back(nullptr);
      values.push_back(nullptr);
    }
    std::vector<const char*> keys, values;
  };
  bool has(const std::string& k) const { return std::find(keys_.begin(), keys_.end(), k) != keys_.end(); }
  std::string get(const std::string& k) const {
    return values_[static_cast<std::size_t>(std::find(keys_.begin(), keys_.end(), k) - keys_.begin())];
  }
  void set(const std::string& k, const std::string& v) {
    keys_.push_back(k);
    values_.push_back(v);
  }
  std::vector<std::string> keys_, values_;
};

/// The LISTEN side: its own connection on its own thread, woken through an eventfd to stop.
class ChangeListener {
 public:
  ChangeListener(ConnParams params, std::string channel, std::function<void(const std::string&)> on_change)
      : params_(std::move(params)), channel_(std::move(channel)), on_change_(std::move(on_change)) {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      spdlog::error("approvals store: eventfd: {}; changes from other replicas arrive by polling only",
                    std::strerror(errno));
      return;
    }
    thread_ = std::thread([this] { run(); });
  }
  ~ChangeListener() {
    if (wake_fd_ >= 0) {
      const std::uint64_t one = 1;
      [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
    }
    if (thread_.joinable()) thread_.join();
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }
  ChangeListener(const ChangeListener&) = delete;
  ChangeListener& operator=(const ChangeListener&) = delete;

 private:
  enum class Wait { ready, timeout, stopped };
  using Clock = std::chrono::steady_clock;

  /// Waits for `events` on fd (fd < 0: only for the deadline or the stop signal).
  Wait wait(int fd, short events, std::optional<Clock::time_point> deadline) {
    for (;;) {
      pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {fd, events, 0}};
      int timeout = -1;
      if (deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
        timeout = static_cast<int>(std::clamp<long long>(left, 0, 60000));
      }
      const int n = ::poll(fds, fd >= 0 ? 2 : 1, timeout);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Wait::stopped;  // cannot happen with valid fds; do not spin
      if (fds[0].revents) return Wait::stopped;
      if (fd >= 0 && fds[1].revents) return Wait::ready;
      if (deadline && Clock::now() >= *deadline) return Wait::timeout;
    }
  }

  /// Connects and runs LISTEN; nullptr (with `error`, or empty when stopping) on failure.
  PGconn* connect_and_listen(std::string& error, bool& stopped) {
    PGconn* c = params_.connect_start();
    if (!c) {
      error = "out of memory";
      return nullptr;
    }
    auto fail = [&](const std::string& why) -> PGconn* {
      error = why.empty() ? trimmed(PQerrorMessage(c)) : why;
      PQfinish(c);
      return nullptr;
    };
    if (PQstatus(c) == CONNECTION_BAD) return fail("");
    const auto deadline = Clock::now() + params_.connect_timeout();
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
      if (st == PGRES_POLLING_FAILED) return fail("");
      const Wait w = wait(PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
      if (w == Wait::stopped) {
        stopped = true;
        return fail("stopping");
      }
      if (w == Wait::timeout) return fail("timeout expired while connecting");
      st = PQconnectPoll(c);
    }
    PQsetNoticeProcessor(c, quiet_notice, nullptr);
    const std::string sql = "LISTEN " + quote_identifier(c, channel_);
    if (!PQsendQuery(c, sql.c_str())) return fail("");
    for (;;) {
      while (PQisBusy(c)) {
        const Wait w = wait(PQsocket(c), POLLIN, deadline);
        if (w == Wait::stopped) {
          stopped = true;
          return fail("stopping");
        }
        if (w == Wait::timeout) return fail("timeout expired waiting for LISTEN");
        if (!PQconsumeInput(c)) return fail("");
      }
      Result r(PQgetResult(c));
      if (!r) break;
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return fail(trimmed(PQresultErrorMessage(r.get())));
    }
    return c;
  }

  void deliver(PGconn* c) {
    while (PGnotify* n = PQnotifies(c)) {
      const std::string id = n->extra ? n->extra : "";
      PQfreemem(n);
      try {
        on_change_(id);
      } catch (const std::exception& e) {
        spdlog::error("approvals store: change listener failed for {}: {}", id, e.what());
      }
    }
  }

  void run() {
    auto backoff = std::chrono::duration_cast<std::chrono::seconds>(kBackoffFirst);
    bool lost_before = false;
    for (;;) {
      std::string error;
      bool stopped = false;
      PGconn* c = connect_and_listen(error, stopped);
      if (stopped) return;
      if (!c) {
        spdlog::warn("approvals store: cannot LISTEN on {} ({}); retrying in {} s", params_.describe(), error,
                     backoff.count());
        if (wait(-1, 0, Clock::now() + backoff) == Wait::stopped) return;
        backoff = std::min<std::chrono::seconds>(backoff * 2, kBackoffMax);
        continue;
      }
      if (lost_before)
        spdlog::info("approvals store: listening on {} again (changes made meanwhile reach waiting sessions by polling)",
                     params_.describe());
      backoff = std::chrono::duration_cast<std::chrono::seconds>(kBackoffFirst);
      deliver(c);
      for (;;) {
        if (wait(PQsocket(c), POLLIN, std::nullopt) == Wait::stopped) {
          PQfinish(c);
          return;
        }
        // The server shutting down sends an ErrorResponse (taken as a notice while idle), then EOF.
        const bool read_ok = PQconsumeInput(c) == 1;
        deliver(c);
        if (!read_ok || PQstatus(c) == CONNECTION_BAD) break;
      }
      spdlog::warn("approvals store: LISTEN connection to {} lost ({}); reconnecting", params_.describe(),
                   trimmed(PQerrorMessage(c)));
      PQfinish(c);
      lost_before = true;
    }
  }

  ConnParams params_;
  std::string channel_;
  std::function<void(const std::string&)> on_change_;
  int wake_fd_ = -1;
  std::thread thread_;
};

using Params = std::vector<std::optional<std::string>>;

/// The row columns besides `body`, in the order of the INSERT/UPDATE parameters $2..$8.
Params row_params(const ApprovalRequest& r) {
  return {r.id,
          std::string(to_string(r.status)),
          r.statement_hash,
          r.user,
          r.database,
          std::to_string(r.created_ms),
          std::to_string(r.expires_ms),
          std::to_string(r.valid_until_ms),
          to_json_text(r)};
}

class PgRequestStore final : public RequestStore {
 public:
  PgRequestStore(ConnParams params, std::string schema)
      : params_(std::move(params)), schema_(std::move(schema)), channel_(schema_ + "_requests") {}

  ~PgRequestStore() override {
    listener_.reset();  // joins its thread before the command connection goes
    if (conn_) PQfinish(conn_);
  }

  bool open(std::string& error) {
    conn_ = params_.connect();
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      error = "cannot connect to the approvals store at " + params_.describe() + ": " +
              (conn_ ? trimmed(PQerrorMessage(conn_)) : std::string("out of memory"));
      return false;
    }
    PQsetNoticeProcessor(conn_, quiet_notice, nullptr);
    if (!setup_session(error)) return false;
    const std::string q = quote_identifier(conn_, schema_);
    if (q.empty()) {
      error = "approvals.store.schema cannot be quoted: " + trimmed(PQerrorMessage(conn_));
      return false;
    }
    requests_ = q + ".requests";
    versions_ = q + ".schema_version";
    std::lock_guard lock(mu_);
    if (!migrate(q, error)) {
      rollback_if_open();
      return false;
    }
    spdlog::info("approvals store: PostgreSQL at {}, schema {} (version {})", params_.describe(), schema_,
                 kSchemaVersion);
    return true;
  }

  bool create(const ApprovalRequest& r, std::string& error) override {
    Params p = row_params(r);
    p.push_back(channel_);
    const std::string insert = "WITH ins AS (INSERT INTO " + requests_ +
                               " (id, status, statement_hash, user_name, database_name, created_ms, expires_ms,"
                               " valid_until_ms, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                               " ON CONFLICT (id) DO NOTHING RETURNING id) SELECT pg_notify($10, id) FROM ins";
    return run(error, [&](bool retry) {
      // Not marked as committing: a retry recognizes its own first attempt (below).
      Result res = exec(insert, p, error, "create");
      if (!res) return false;
      if (PQntuples(res.get()) == 1) return true;
      // Nothing inserted: the id exists. On a retry after a lost connection that may be our
      // own first attempt, committed just before the connection went.
      if (retry) {
        Result same = exec("SELECT 1 FROM " + requests_ + " WHERE id = $1 AND body = $2", {r.id, p[8]}, error, "create");
        if (same && PQntuples(same.get()) == 1) return true;
      }
      error = "create: a request with id " + r.id + " exists already";
      return false;
    });
  }

  std::optional<ApprovalRequest> get(const std::string& id, std::string& error) override {
    std::vector<ApprovalRequest> found;
    query("SELECT body FROM " + requests_ + " WHERE id = $1", {id}, found, error, "get");
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }

  std::vector<ApprovalRequest> list(std::optional<RequestStatus> status, std::size_t limit,
                                    std::string& error) override {
    std::vector<ApprovalRequest> found;
    const std::optional<std::string> lim = limit ? std::optional(std::to_string(limit)) : std::nullopt;
    if (status)
      query("SELECT body FROM " + requests_ + " WHERE status = $1" + kNewestFirst + " LIMIT $2",
            {std::string(to_string(*status)), lim}, found, error, "list");
    else
      query("SELECT body FROM " + requests_ + kNewestFirst + " LIMIT $1", {lim}, found, error, "list");
    return found;
  }

  std::optional<bool> update(const std::string& id, const std::function<bool(ApprovalRequest&)>& change,
                             ApprovalRequest& after, std::string& error) override {
    std::optional<bool> outcome;
    const bool ok = run(error, [&](bool /*retry*/) {
      outcome.reset();
      if (!exec("BEGIN", {}, error, "update")) return false;
      std::vector<ApprovalRequest> found;
      Result res = exec("SELECT body FROM " + requests_ + " WHERE id = $1 FOR UPDATE", {id}, error, "update");
      if (!res || !parse_rows(res.get(), found, error)) return false;
      if (found.empty()) {
        exec("ROLLBACK", {}, error, "update");
        error.clear();
        return true;  // not found: nullopt with no error
      }
      ApprovalRequest working = found.front();
      if (!change(working)) {
        exec("ROLLBACK", {}, error, "update");
        error.clear();
        after = std::move(found.front());
        outcome = false;
        return true;
      }
      working.id = id;  // the key is not the callback's to change
      if (!write_back(working, error, "update")) return false;
      if (!exec("COMMIT", {}, error, "update", true)) return false;
      after = std::move(working);
      outcome = true;
      return true;
    });
    if (!ok) return std::nullopt;
    return outcome;
  }

  std::optional<ApprovalRequest> find_approved(const std::string& statement_hash, const std::string& user,
                                               const std::string& database, std::int64_t now_ms,
                                               std::string& error) override {
    std::vector<ApprovalRequest> found;
    query("SELECT body FROM " + requests_ +
              " WHERE statement_hash = $1 AND user_name = $2 AND database_name = $3 AND status = 'approved'"
              " AND valid_until_ms > $4" +
              kNewestFirst + " LIMIT 1",
          {statement_hash, user, database, std::to_string(now_ms)}, found, error, "find_approved");
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }

  std::optional<ApprovalRequest> find_pending(const std::string& statement_hash, const std::string& user,
                                              const std::string& database, std::string& error) override {
    std::vector<ApprovalRequest> found;
    query("SELECT body FROM " + requests_ +
              " WHERE statement_hash = $1 AND user_name = $2 AND database_name = $3 AND status = 'pending'" +
              kNewestFirst + " LIMIT 1",
          {statement_hash, user, database}, found, error, "find_pending");
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }

  std::vector<ApprovalRequest> expire_due(std::int64_t now_ms, std::string& error) override {
    std::vector<ApprovalRequest> expired;
    run(error, [&](bool /*retry*/) {
      expired.clear();
      if (!exec("BEGIN", {}, error, "expire_due")) return false;
      // SKIP LOCKED: a row another replica is deciding right now is left for the next sweep.
      std::vector<ApprovalRequest> due;
      Result res = exec("SELECT body FROM " + requests_ +
                            " WHERE status = 'pending' AND expires_ms <= $1 ORDER BY created_ms FOR UPDATE SKIP LOCKED",
                        {std::to_string(now_ms)}, error, "expire_due");
      if (!res || !parse_rows(res.get(), due, error)) return false;
      for (ApprovalRequest& r : due) {
        if (!expire_if_due(r, now_ms)) continue;
        if (!write_back(r, error, "expire_due")) return false;
        expired.push_back(std::move(r));
      }
      if (!exec("COMMIT", {}, error, "expire_due", true)) return false;
      return true;
    });
    if (!error.empty()) expired.clear();
    return expired;
  }

  void set_change_listener(std::function<void(const std::string& id)> on_change) override {
    listener_.reset();
    listener_ = std::make_unique<ChangeListener>(params_, channel_, std::move(on_change));
  }
  bool pushes_changes() const override { return true; }

 private:
  static constexpr const char* kNewestFirst = " ORDER BY created_ms DESC, seq DESC";

  bool setup_session(std::string& error) {
    Result r(PQexec(conn_, kSessionSetup));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      error = "approvals store: session setup failed: " +
              trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_));
      return false;
    }
    return true;
  }

  /// Creates or migrates the schema, serialized across replicas by an advisory lock. Does no
  /// DDL when the schema is current (so a role without CREATE can use a prepared schema).
  bool migrate(const std::string& q, std::string& error) {
    if (!exec("BEGIN", {}, error, "migrate")) return false;
    const std::string key = std::to_string(advisory_key("schemagate.approvals:" + schema_));
    if (!exec("SELECT pg_advisory_xact_lock($1::bigint)", {key}, error, "migrate")) return false;
    Result has = exec(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),"
        " EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_version')",
        {schema_}, error, "migrate");
    if (!has) return false;
    const bool schema_exists = PQgetvalue(has.get(), 0, 0)[0] == 't';
    const bool table_exists = PQgetvalue(has.get(), 0, 1)[0] == 't';
    int version = 0;
    if (table_exists) {
      Result v = exec("SELECT coalesce(max(version), 0) FROM " + versions_, {}, error, "migrate");
      if (!v) return false;
      version = std::atoi(PQgetvalue(v.get(), 0, 0));
    }
    if (version > kSchemaVersion) {
      error = "approvals store schema " + schema_ + " at " + params_.describe() + " has version " +
              std::to_string(version) + ", newer than this schemagate knows (" + std::to_string(kSchemaVersion) +
              "); upgrade schemagate";
      return false;
    }
    if (version == kSchemaVersion) return static_cast<bool>(exec("COMMIT", {}, error, "migrate"));
    if (!schema_exists && !exec("CREATE SCHEMA IF NOT EXISTS " + q, {}, error, "migrate")) return false;
    const std::string steps[] = {
        "CREATE TABLE IF NOT EXISTS " + versions_ + " (version integer NOT NULL)",
        // seq: insertion order, the tie-break between requests created in the same millisecond.
        "CREATE TABLE IF NOT EXISTS " + requests_ +
            " (id text PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY, status text NOT NULL,"
            " statement_hash text NOT NULL, user_name text NOT NULL, database_name text NOT NULL,"
            " created_ms bigint NOT NULL, expires_ms bigint NOT NULL, valid_until_ms bigint NOT NULL,"
            " body text NOT NULL)",
        "CREATE INDEX IF NOT EXISTS requests_by_key ON " + requests_ +
            " (statement_hash, user_name, database_name, created_ms)",
        "CREATE INDEX IF NOT EXISTS requests_by_status ON " + requests_ + " (status, created_ms)",
        "DELETE FROM " + versions_,
        "INSERT INTO " + versions_ + " (version) VALUES (" + std::to_string(kSchemaVersion) + ")",
    };
    for (const std::string& sql : steps)
      if (!exec(sql, {}, error, "migrate")) return false;
    if (!exec("COMMIT", {}, error, "migrate")) return false;
    spdlog::info("approvals store: schema {} at {} migrated from version {} to {}", schema_, params_.describe(),
                 version, kSchemaVersion);
    return true;
  }

  /// One statement; nullptr (with `error` = "<what>: <message>") unless it succeeded.
  /// `commits`: the statement makes a change durable, so a lost connection leaves its outcome unknown.
  Result exec(const std::string& sql, const Params& params, std::string& error, const char* what,
              bool commits = false) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    if (commits) commit_sent_ = true;
    Result r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                          nullptr, 0));
    const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    const std::string message = r && *PQresultErrorMessage(r.get()) ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_);
    error = std::string(what) + ": " + trimmed(message);
    return nullptr;
  }

  bool write_back(const ApprovalRequest& r, std::string& error, const char* what) {
    Params p = row_params(r);
    p.push_back(channel_);
    return static_cast<bool>(exec("WITH u AS (UPDATE " + requests_ +
                                      " SET status = $2, statement_hash = $3, user_name = $4, database_name = $5,"
                                      " created_ms = $6, expires_ms = $7, valid_until_ms = $8, body = $9"
                                      " WHERE id = $1 RETURNING id) SELECT pg_notify($10, id) FROM u",
                                  p, error, what));
  }

  static bool parse_rows(PGresult* res, std::vector<ApprovalRequest>& out, std::string& error) {
    const int n = PQntuples(res);
    for (int i = 0; i < n; ++i) {
      ApprovalRequest r;
      std::string why;
      const std::string_view body(PQgetvalue(res, i, 0), static_cast<std::size_t>(PQgetlength(res, i, 0)));
      if (!from_json_text(body, r, why)) {
        error = "approvals store: a stored request is unreadable: " + why;
        out.clear();
        return false;
      }
      out.push_back(std::move(r));
    }
    return true;
  }

  /// A read of request bodies.
  void query(const std::string& sql, const Params& params, std::vector<ApprovalRequest>& out, std::string& error,
             const char* what) {
    run(error, [&](bool /*retry*/) {
      out.clear();
      Result res = exec(sql, params, error, what);
      return res && parse_rows(res.get(), out, error);
    });
    if (!error.empty()) out.clear();
  }

  /// Runs `body(retry)` on the command connection under mu_. A connection found broken is
  /// reset and the body run once more, unless the first attempt may have committed.
  template <class Body>
  bool run(std::string& error, Body&& body) {
    std::lock_guard lock(mu_);
    for (int attempt = 0;; ++attempt) {
      error.clear();
      if (PQstatus(conn_) != CONNECTION_OK && !reconnect(error)) return false;
      commit_sent_ = false;
      bool ok = false;
      try {
        ok = body(attempt > 0);
      } catch (const std::exception& e) {
        error = std::string("approvals store: ") + e.what();
      }
      if (ok) return true;
      if (PQstatus(conn_) == CONNECTION_OK) {
        rollback_if_open();
        return false;
      }
      if (attempt > 0) return false;
      if (commit_sent_) {
        error += " (the connection was lost while committing: the change may or may not have been stored)";
        return false;
      }
      spdlog::warn("approvals store: connection to {} lost ({}); reconnecting", params_.describe(), error);
    }
  }

  bool reconnect(std::string& error) {
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      error = "approvals store at " + params_.describe() + " unreachable: " + trimmed(PQerrorMessage(conn_));
      return false;
    }
    if (!setup_session(error)) return false;
    spdlog::info("approvals store: reconnected to {}", params_.describe());
    return true;
  }

  void rollback_if_open() {
    const PGTransactionStatusType t = PQtransactionStatus(conn_);
    if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR) {
      const Result discarded(PQexec(conn_, "ROLLBACK"));
    }
  }

  ConnParams params_;
  std::string schema_, channel_;
  std::string requests_, versions_;  // quoted, schema-qualified table names
  std::mutex mu_;                    // one command at a time on conn_
  PGconn* conn_ = nullptr;
  bool commit_sent_ = false;
  std::unique_ptr<ChangeListener> listener_;
};

}  // namespace

std::unique_ptr<RequestStore> open_postgres_request_store(const config::ApprovalStore& cfg, std::string& error) {
  error.clear();
  if (cfg.schema.empty() || cfg.schema.size() > kMaxSchemaBytes || cfg.schema.find('\0') != std::string::npos) {
    error = "approvals.store.schema must be 1 to " + std::to_string(kMaxSchemaBytes) + " bytes";
    return nullptr;
  }
  ConnParams params;
  if (!params.parse(cfg.dsn, error)) return nullptr;
  auto store = std::make_unique<PgRequestStore>(std::move(params), cfg.schema);
  if (!store->open(error)) return nullptr;
  return store;
}

}  // namespace schemagate::proxy::approvals
