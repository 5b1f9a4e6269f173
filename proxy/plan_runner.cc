#include "proxy/plan_runner.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "policy/quote.h"

namespace schemagate::proxy {

using policy::PhaseKind;
using policy::quote_ident;
using policy::quote_literal;

namespace {

constexpr std::int64_t kProgressEveryMs = 5000;
// How often a backfill reads the replicas' lag between batches, and how long it sleeps before
// reading it again while a replica is too far behind.
constexpr std::int64_t kLagCheckEveryMs = 1000;
constexpr std::uint32_t kLagWaitMs = 1000;

std::string wal_size(std::int64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (bytes < (1 << 20))
    std::snprintf(buf, sizeof buf, "%.1f kB", b / 1024.0);
  else if (bytes < (1LL << 30))
    std::snprintf(buf, sizeof buf, "%.1f MB", b / 1048576.0);
  else
    std::snprintf(buf, sizeof buf, "%.1f GB", b / 1073741824.0);
  return buf;
}

std::int64_t to_int(const std::optional<std::string>& v, std::int64_t fallback = 0) {
  if (!v) return fallback;
  double d = 0;  // reltuples is a float4 printed as text
  const auto r = std::from_chars(v->data(), v->data() + v->size(), d);
  return r.ec == std::errc{} ? static_cast<std::int64_t>(d) : fallback;
}

std::string seconds(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

// The quoted table as a regclass literal, or NULL when the phase names none.
std::string regclass_of(const std::string& quoted_table) {
  return quoted_table.empty() ? std::string("NULL::pg_catalog.regclass")
                              : "pg_catalog.to_regclass(" + quote_literal(quoted_table) + ")";
}

}  // namespace

PlanRunner::PlanRunner(const policy::Plan& plan, std::uint64_t seed, ResumePoint resume, bool in_client_transaction)
    : plan_(plan), rng_(seed), phases_done_(resume.phase), resume_from_(resume.phase),
      trailing_from_(plan.phases.size()), in_transaction_(in_client_transaction),
      resumed_phase_(resume.phase > 0 || resume.rows_backfilled > 0), last_key_(std::move(resume.last_key)),
      rows_(resume.rows_backfilled) {
  while (trailing_from_ > 0 && plan_.phases[trailing_from_ - 1].kind == PhaseKind::passthrough) --trailing_from_;
}

std::uint32_t PlanRunner::backoff_ms(const policy::RetryPolicy& r, std::uint32_t attempt, std::mt19937_64& rng) {
  const std::uint32_t shift = std::min<std::uint32_t>(attempt > 0 ? attempt - 1 : 0, 16);
  const std::uint64_t base = std::min<std::uint64_t>(static_cast<std::uint64_t>(r.backoff_ms) << shift, 60000);
  if (base == 0) return 0;
  std::uniform_int_distribution<std::uint64_t> jitter(0, base / 2);
  return static_cast<std::uint32_t>(base + jitter(rng));
}

std::string PlanRunner::keyset_batch_sql(const policy::Backfill& b, const std::vector<std::string>& keys,
                                         const std::vector<std::string>& after) {
  // The next batch_rows keys after the last one, in key order (an index range scan on the primary
  // key, never OFFSET or a re-scanned LIMIT); the rows of that key range still NULL get the value;
  // the answer is the number filled and the batch's last key, or no row when the table is
  // exhausted. The UPDATE is bounded by the key range itself rather than joined to the batch:
  // the new column has no statistics, and a join made the planner hash-join a scan of the whole
  // table for every batch.
  std::string cols, t_cols, last_cols, desc;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const char* sep = i ? ", " : "";
    cols += sep + keys[i];
    t_cols += sep + std::string("schemagate_t.") + keys[i];
    last_cols += ", schemagate_l." + keys[i] + "::text";
    desc += sep + keys[i] + " DESC";
  }
  std::string lits;
  for (std::size_t i = 0; i < after.size(); ++i) lits += (i ? ", " : "") + quote_literal(after[i]);
  const std::string where = after.empty() ? std::string() : " WHERE (" + cols + ") > (" + lits + ")";
  const std::string lower = after.empty() ? std::string() : "(" + t_cols + ") > (" + lits + ") AND ";
  return "WITH schemagate_b AS MATERIALIZED (SELECT " + cols + " FROM " + b.table + where + " ORDER BY " + cols +
         " LIMIT " + std::to_string(b.batch_rows) + "), schemagate_l AS MATERIALIZED (SELECT " + cols +
         " FROM schemagate_b ORDER BY " + desc + " LIMIT 1), schemagate_u AS (UPDATE " + b.table +
         " AS schemagate_t SET " + b.column + " = " + b.value + " WHERE " + lower + "(" + t_cols + ") <= (SELECT " +
         cols + " FROM schemagate_l) AND schemagate_t." + b.column +
         " IS NULL RETURNING 1) SELECT (SELECT count(*) FROM schemagate_u)" + last_cols + " FROM schemagate_l";
}

std::string PlanRunner::ctid_batch_sql(const policy::Backfill& b, std::int64_t first_block, std::int64_t end_block) {
  // Without a key, walk the heap in block ranges (a TID range scan): every block that existed
  // when the backfill started is visited once; rows inserted since already have the default.
  return "UPDATE " + b.table + " SET " + b.column + " = " + b.value + " WHERE ctid >= '(" +
         std::to_string(first_block) + ",0)'::tid AND ctid < '(" + std::to_string(end_block) + ",0)'::tid AND " +
         b.column + " IS NULL";
}

std::string PlanRunner::attempt_sql() const {
  const auto& p = phase();
  const std::string timeout = "'" + std::to_string(p.lock_timeout_ms) + "ms'";
  switch (p.kind) {
    case PhaseKind::precheck:
    case PhaseKind::autocommit:
    case PhaseKind::passthrough:
      return p.sql;
    case PhaseKind::guarded:
      if (in_transaction_)  // SET LOCAL inside a savepoint lasts until the client's transaction ends
        return "SAVEPOINT schemagate_phase; " +
               (p.lock_timeout_ms ? "SET LOCAL lock_timeout = " + timeout + "; " : std::string()) + p.sql +
               "; RELEASE SAVEPOINT schemagate_phase";
      return "BEGIN; " + (p.lock_timeout_ms ? "SET LOCAL lock_timeout = " + timeout + "; " : std::string()) + p.sql +
             "; COMMIT";
    case PhaseKind::online:
    case PhaseKind::after_commit:  // reached only once the client's transaction has committed
      return "BEGIN; " + (p.lock_timeout_ms ? "SET LOCAL lock_timeout = " + timeout + "; " : std::string()) +
             "SET LOCAL statement_timeout = 0; " + p.sql + "; COMMIT";
    case PhaseKind::backfill:
      break;
  }
  return {};
}

std::string PlanRunner::done_so_far() const {
  const std::size_t n = plan_.phases.size();
  if (phases_done_ == 0) return "Nothing was changed.";
  std::string s = "Done before it stopped: phase" + std::string(phases_done_ > 1 ? "s 1-" : " ") +
                  std::to_string(phases_done_) + " of " + std::to_string(n) + " (";
  for (std::size_t i = 0; i < phases_done_ && i < n; ++i) s += (i ? "; " : "") + plan_.phases[i].description;
  return s + "); the schema is consistent as they left it.";
}

void PlanRunner::record_phase(bool ok, const std::string& sqlstate) {
  if (!phase_open_) return;
  phase_open_ = false;
  PhaseRecord r;
  r.index = index_;
  r.description = phase().description;
  r.duration_ms = now_ms_ - phase_started_ms_;
  r.attempts = attempt_;
  r.rows = rows_;
  r.ok = ok;
  r.sqlstate = sqlstate;
  records_.push_back(std::move(r));
}

void PlanRunner::fail(std::string sqlstate, std::string message, std::string detail, std::string hint) {
  record_phase(false, sqlstate);
  PlanStep f;
  f.kind = PlanStep::failed;
  f.error = protocol::ErrorFields{"ERROR", std::move(sqlstate), std::move(message), std::move(detail), std::move(hint)};
  outcome_ = std::move(f);
  op_ = settings_saved_ ? Op::restore_settings : Op::finished;
}

void PlanRunner::passthrough_failed(const QueryResult& r) {
  record_phase(false, r.sqlstate());
  PlanStep f;
  f.kind = PlanStep::failed;
  f.error_relayed = true;
  f.error = r.error.value_or(protocol::ErrorFields{"ERROR", "08P01", "malformed reply from the server", {}, {}});
  outcome_ = std::move(f);
  op_ = settings_saved_ ? Op::restore_settings : Op::finished;
}

void PlanRunner::start_phase(std::int64_t now_ms) {
  // Phases an interrupted run finished are not run again; the message's passthrough queries are
  // (the client sent the message again and expects their results).
  while (index_ < resume_from_ && index_ < plan_.phases.size() && phase().kind != PhaseKind::passthrough) ++index_;
  // Inside the client's transaction the run ends before the phases that wait for its COMMIT.
  const bool deferred = index_ < plan_.phases.size() && in_transaction_ && phase().kind == PhaseKind::after_commit;
  if (index_ >= plan_.phases.size() || deferred) {
    op_ = settings_saved_ ? Op::restore_settings : Op::finished;
    return;
  }
  if (phase().kind == PhaseKind::passthrough) {
    if (index_ >= trailing_from_ && !statement_replied_) statement_replied_ = statement_done_pending_ = true;
    if (settings_saved_) {  // the client's queries run under its own settings
      op_ = Op::restore_settings;
      return;
    }
  } else if (!settings_saved_) {
    op_ = Op::save_settings;
    return;
  }
  phase_started_ms_ = now_ms;
  last_progress_ms_ = now_ms;
  attempt_ = 0;
  phase_open_ = true;
  const auto& p = phase();
  const bool session_timeout = p.kind == PhaseKind::autocommit || p.kind == PhaseKind::backfill;
  if (session_timeout && p.lock_timeout_ms > 0)
    op_ = Op::set_lock_timeout;
  else
    op_ = p.kind == PhaseKind::backfill ? Op::backfill_keys : Op::attempt;
}

void PlanRunner::phase_succeeded(std::int64_t now_ms) {
  const auto& p = phase();
  const std::size_t n = plan_.phases.size();
  std::string what = p.kind == PhaseKind::backfill
                         ? p.description + " (" + std::to_string(rows_) + " rows)"
                         : (p.kind == PhaseKind::precheck ? p.description : p.sql);
  notices_.push_back("schemagate: phase " + std::to_string(index_ + 1) + "/" + std::to_string(n) + " done in " +
                     seconds(now_ms - phase_started_ms_) + ": " + what);
  now_ms_ = now_ms;
  record_phase(true, {});
  ++index_;
  phases_done_ = std::max(phases_done_, index_);
  if (p.kind != PhaseKind::passthrough) {  // a resumed phase and its backfill key may still follow a query
    resumed_phase_ = false;
    last_key_.clear();
  }
  start_phase(now_ms);
}

void PlanRunner::attempt_failed(const QueryResult& r) {
  last_failure_ = r;
  if (r.connection_lost) {
    settings_saved_ = false;  // nothing more can be sent
    resumable_ = true;
    fail("08006", "schemagate: the database connection was lost during phase " + std::to_string(index_ + 1) + " of the plan",
         done_so_far());
    return;
  }
  if (r.tx_status == 'E' && !(in_transaction_ && op_ == Op::attempt && phase().kind == PhaseKind::precheck)) {
    op_ = Op::rollback;
    return;
  }
  after_rollback();
}

void PlanRunner::after_rollback() {
  const auto& p = phase();
  const std::string& state = last_failure_->sqlstate();
  // After an interruption of a phase that another run of this plan may have finished already
  // (resume), "already exists" means it did: the phase counts as done.
  if (resumed_phase_ && attempt_ == 1 && p.kind == PhaseKind::guarded &&
      (state == "42701" || state == "42P07" || state == "42710")) {
    notices_.push_back("schemagate: phase " + std::to_string(index_ + 1) + "/" + std::to_string(plan_.phases.size()) +
                       " was already done before the interruption");
    resumed_phase_ = false;
    phase_succeeded(phase_started_ms_);
    return;
  }
  const bool lock = state == "55P03";
  const bool interrupted = cancelled_ || state == "57014";
  // A half-built CONCURRENTLY index left by an interrupted run is dropped and built again.
  const bool rebuild = resumed_phase_ && attempt_ == 1 && p.kind == PhaseKind::autocommit && state == "42P07";
  const bool retry = !interrupted && ((lock && attempt_ < p.retry.max_attempts) || rebuild);
  // An autocommit step (CONCURRENTLY) leaves an INVALID index behind: drop it before any retry
  // or stop. Other steps roll back by themselves; their cleanup undoes earlier phases' work only
  // when the plan fails for good (not when it is interrupted or gives up on a lock: then it
  // resumes from this phase when the statement is sent again).
  const bool needs_cleanup =
      !in_transaction_ && (p.kind == PhaseKind::autocommit || (!retry && !interrupted && !lock));
  if (!p.cleanup_sql.empty() && !cleaned_ && needs_cleanup) {
    op_ = Op::cleanup;
    return;
  }
  cleaned_ = false;
  resumable_ = interrupted || lock;
  decide_after_failure(retry);
}

void PlanRunner::decide_after_failure(bool retry) {
  const auto& p = phase();
  const auto& r = *last_failure_;
  const std::size_t n = plan_.phases.size();
  const std::string which = "phase " + std::to_string(index_ + 1) + "/" + std::to_string(n) + " (" + p.description + ")";
  if (cancelled_ || r.sqlstate() == "57014") {
    fail("57014", "canceling statement due to user request",
         "schemagate stopped the plan in " + which + ". " + done_so_far() + cleanup_note_);
    return;
  }
  if (retry) {
    ++retries_;
    sleep_before_ms_ = backoff_ms(p.retry, attempt_, rng_);
    notices_.push_back("schemagate: " + which + ": lock not granted within " + std::to_string(p.lock_timeout_ms) +
                       " ms (attempt " + std::to_string(attempt_) + "/" + std::to_string(p.retry.max_attempts) +
                       "); retrying in " + std::to_string(sleep_before_ms_) + " ms");
    op_ = p.kind == PhaseKind::backfill ? Op::backfill_batch : Op::attempt;
    return;
  }
  if (r.sqlstate() == "55P03") {
    op_ = Op::find_blocker;
    return;
  }
  const std::string server = r.error ? r.error->message : std::string("malformed reply from the server");
  std::string detail = r.error && !r.error->detail.empty() ? r.error->detail + "\n" : std::string();
  fail("SG004", "schemagate: " + which + " failed: " + server + (r.error ? " (SQLSTATE " + r.sqlstate() + ")" : ""),
       detail + done_so_far() + cleanup_note_, r.error ? r.error->hint : std::string());
}

void PlanRunner::backfill_batch_done(const QueryResult& r, std::int64_t now_ms) {
  const auto& b = *phase().backfill;
  attempt_ = 0;
  if (key_columns_.empty()) {
    std::int64_t n = 0;
    if (!r.command_tags.empty()) {
      const auto& t = r.command_tags.back();
      const auto sp = t.rfind(' ');
      if (sp != std::string::npos) n = to_int(t.substr(sp + 1));
    }
    rows_ += n;
    next_block_ = std::min(blocks_, next_block_ + blocks_per_batch_);
    last_key_ = {std::to_string(next_block_)};
    backfill_exhausted_ = next_block_ >= blocks_;
  } else if (r.rows.empty()) {
    backfill_exhausted_ = true;
  } else {
    const auto& row = r.rows.front();
    rows_ += to_int(row.front());
    last_key_.clear();
    for (std::size_t i = 1; i < row.size(); ++i) last_key_.push_back(row[i].value_or(""));
  }
  if (backfill_exhausted_) {
    phase_succeeded(now_ms);
    return;
  }
  if (now_ms - last_progress_ms_ >= kProgressEveryMs) {
    last_progress_ms_ = now_ms;
    const double elapsed = std::max<double>(1.0, static_cast<double>(now_ms - phase_started_ms_)) / 1000.0;
    const double rate = static_cast<double>(rows_) / elapsed;
    std::string s = "schemagate: backfill of " + b.table + "." + b.column + ": " + std::to_string(rows_) + " rows";
    if (rows_estimate_ > 0) {
      const double left = std::max<double>(0.0, static_cast<double>(rows_estimate_ - rows_));
      s += " of ~" + std::to_string(rows_estimate_) + ", " + std::to_string(static_cast<std::int64_t>(rate)) +
           " rows/s, ETA " + seconds(static_cast<std::int64_t>(rate > 0 ? left / rate * 1000.0 : 0));
    } else {
      s += ", " + std::to_string(static_cast<std::int64_t>(rate)) + " rows/s";
    }
    notices_.push_back(std::move(s));
  }
  sleep_before_ms_ = b.pause_ms;
  op_ = batch_op(now_ms + b.pause_ms);
}

PlanStep PlanRunner::next(std::int64_t now_ms) {
  now_ms_ = now_ms;
  PlanStep s;
  if (!notices_.empty()) {
    s.kind = PlanStep::notice;
    s.text = std::move(notices_.front());
    notices_.pop_front();
    return s;
  }
  if (statement_done_pending_) {
    statement_done_pending_ = false;
    s.kind = PlanStep::statement_done;
    return s;
  }
  if (op_ == Op::begin) start_phase(now_ms);
  if (sleep_before_ms_ > 0 && !cancelled_) {
    s.kind = PlanStep::sleep;
    s.sleep_ms = sleep_before_ms_;
    sleep_before_ms_ = 0;
    return s;
  }
  sleep_before_ms_ = 0;
  // A cancel between statements: nothing is running, nothing half-done; stop here.
  const bool between = op_ == Op::attempt || op_ == Op::set_lock_timeout || op_ == Op::backfill_keys ||
                       op_ == Op::backfill_size || op_ == Op::backfill_lag || op_ == Op::backfill_batch;
  if (cancelled_ && between && !outcome_) {
    resumable_ = true;
    const std::size_t n = plan_.phases.size();
    fail("57014", "canceling statement due to user request",
         "schemagate stopped the plan before phase " + std::to_string(std::min(index_ + 1, n)) + "/" +
             std::to_string(n) + ". " + done_so_far());
  }
  s.kind = PlanStep::query;
  switch (op_) {
    case Op::save_settings:
      s.sql = "SELECT pg_catalog.current_setting('lock_timeout'), pg_catalog.current_setting('statement_timeout')";
      return s;
    case Op::set_lock_timeout:
      s.sql = "SET lock_timeout = '" + std::to_string(phase().lock_timeout_ms) + "ms'";
      return s;
    case Op::attempt:
      ++attempt_;
      s.sql = attempt_sql();
      s.relay = phase().kind == PhaseKind::passthrough;
      return s;
    case Op::rollback:
      s.sql = in_transaction_ ? "ROLLBACK TO SAVEPOINT schemagate_phase" : "ROLLBACK";
      return s;
    case Op::cleanup:
      s.sql = phase().cleanup_sql;
      return s;
    case Op::find_blocker:
      s.sql =
          "SELECT a.pid::text, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), "
          "coalesce(a.query_start::text, ''), coalesce(a.state, ''), left(coalesce(a.query, ''), 200), "
          "EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.pid = a.pid AND l.locktype = 'relation' AND l.granted "
          "AND l.relation = " + regclass_of(phase().table) + ")::text AS holds "
          "FROM pg_catalog.pg_stat_activity a WHERE a.pid <> pg_catalog.pg_backend_pid() AND a.xact_start IS NOT NULL "
          "AND a.backend_type = 'client backend' ORDER BY 7 DESC, a.xact_start LIMIT 3";
      return s;
    case Op::backfill_keys:
      s.sql =
          "SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid "
          "AND a.attnum = ANY (i.indkey) WHERE i.indrelid = " + regclass_of(phase().backfill->table) +
          " AND i.indisprimary ORDER BY pg_catalog.array_position(i.indkey::int2[], a.attnum)";
      return s;
    case Op::backfill_size:
      s.sql = "SELECT c.reltuples, c.relpages, pg_catalog.pg_relation_size(c.oid) / "
              "pg_catalog.current_setting('block_size')::bigint FROM pg_catalog.pg_class c WHERE c.oid = " +
              regclass_of(phase().backfill->table);
      return s;
    case Op::backfill_lag:
      // Walsenders of base backups have no replay position and are left out; `state` is NULL
      // for a role that may not see the details (pg_read_all_stats).
      s.sql =
          "SELECT coalesce(application_name, ''), coalesce(pg_catalog.host(client_addr), 'local socket'), (state IS NULL)::text, "
          "pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn)::bigint "
          "FROM pg_catalog.pg_stat_replication WHERE state IS DISTINCT FROM 'backup'";
      return s;
    case Op::backfill_batch: {
      ++attempt_;
      const auto& b = *phase().backfill;
      s.sql = key_columns_.empty() ? ctid_batch_sql(b, next_block_, std::min(blocks_, next_block_ + blocks_per_batch_))
                                   : keyset_batch_sql(b, key_columns_, last_key_);
      return s;
    }
    case Op::restore_settings:
    {
      const char* local = in_transaction_ ? "true" : "false";
      s.sql = "SELECT pg_catalog.set_config('lock_timeout', " + quote_literal(saved_lock_timeout_) + ", " + local +
              "), pg_catalog.set_config('statement_timeout', " + quote_literal(saved_statement_timeout_) + ", " +
              local + ")";
    }
      return s;
    case Op::begin:
    case Op::finished:
      break;
  }
  if (outcome_) return *outcome_;
  s.kind = PlanStep::done;
  return s;
}

void PlanRunner::on_result(const QueryResult& r, std::int64_t now_ms) {
  now_ms_ = now_ms;
  if (r.connection_lost && op_ != Op::attempt && op_ != Op::backfill_batch) {
    settings_saved_ = false;
    if (op_ == Op::backfill_lag) resumable_ = true;  // between two batches
    if (!outcome_) fail("08006", "schemagate: the database connection was lost during the plan", done_so_far());
    op_ = Op::finished;
    return;
  }
  switch (op_) {
    case Op::save_settings:
      if (!r.ok() || r.rows.empty() || r.rows[0].size() < 2) {
        fail("SG004", "schemagate: could not read the session's settings before the plan", "Nothing was changed.");
        return;
      }
      saved_lock_timeout_ = r.rows[0][0].value_or("0");
      saved_statement_timeout_ = r.rows[0][1].value_or("0");
      settings_saved_ = true;
      start_phase(now_ms);
      return;
    case Op::set_lock_timeout:
      if (!r.ok()) {
        last_failure_ = r;
        decide_after_failure(false);
        return;
      }
      op_ = phase().kind == PhaseKind::backfill ? (key_columns_.empty() && blocks_ == 0 ? Op::backfill_keys
                                                                                         : Op::backfill_batch)
                                                : Op::attempt;
      return;
    case Op::attempt:
      if (!r.ok() && !r.connection_lost && phase().kind == PhaseKind::passthrough) {
        passthrough_failed(r);
        return;
      }
      if (!r.ok()) {
        attempt_failed(r);
        return;
      }
      if (phase().kind == PhaseKind::precheck) {
        const bool found = !r.rows.empty() && !r.rows[0].empty() && r.rows[0][0] == std::optional<std::string>("t");
        if (found) {
          fail("SG004", "schemagate: " + phase().failure_message,
               "Precheck of phase " + std::to_string(index_ + 1) + "/" + std::to_string(plan_.phases.size()) + " (" +
                   phase().description + ") found rows that the statement would fail on. " + done_so_far());
          return;
        }
      }
      phase_succeeded(now_ms);
      return;
    case Op::rollback:
      after_rollback();
      return;
    case Op::cleanup:
      if (repeat_after_cancel(r)) return;
      cleaned_ = true;
      if (!r.ok())
        cleanup_note_ = " Cleanup failed (" + (r.error ? r.error->message : std::string("no reply")) +
                        "); run it by hand: " + phase().cleanup_sql;
      after_rollback();
      return;
    case Op::find_blocker: {
      const auto& p = phase();
      std::string detail;
      for (const auto& row : r.rows) {
        if (row.size() < 7) continue;
        detail += "Blocked by pid " + row[0].value_or("?") + " (application_name '" + row[1].value_or("") +
                  "', user '" + row[2].value_or("") + "', " + row[4].value_or("") + ", query started " +
                  row[3].value_or("?") + (row[6] == std::optional<std::string>("true") ? ", holds a lock on " + p.table : "") +
                  "): " + row[5].value_or("") + "\n";
      }
      if (detail.empty()) detail = "No blocking session was found any more.\n";
      fail("SG004",
           "schemagate: phase " + std::to_string(index_ + 1) + "/" + std::to_string(plan_.phases.size()) + " (" +
               p.description + ") could not get its lock within " + std::to_string(p.lock_timeout_ms) + " ms in " +
               std::to_string(attempt_) + " attempt" + (attempt_ == 1 ? "" : "s"),
           detail + done_so_far() + cleanup_note_,
           "End the blocking transaction (or wait for it) and send the statement again; the plan resumes from "
           "this phase.");
      return;
    }
    case Op::backfill_keys:
      if (!r.ok()) {
        last_failure_ = r;
        decide_after_failure(false);
        return;
      }
      key_columns_.clear();
      for (const auto& row : r.rows)
        if (!row.empty() && row[0]) key_columns_.push_back(quote_ident(*row[0]));
      op_ = Op::backfill_size;
      return;
    case Op::backfill_size: {
      if (!r.ok() || r.rows.empty() || r.rows[0].size() < 3) {
        last_failure_ = r;
        decide_after_failure(false);
        return;
      }
      const auto& row = r.rows[0];
      rows_estimate_ = std::max<std::int64_t>(0, to_int(row[0]));
      const std::int64_t pages = to_int(row[1]);
      blocks_ = std::max<std::int64_t>(1, to_int(row[2]));
      const std::int64_t per_page = rows_estimate_ > 0 && pages > 0 ? std::max<std::int64_t>(1, rows_estimate_ / pages) : 100;
      blocks_per_batch_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(phase().backfill->batch_rows) / per_page);
      if (key_columns_.empty() && !last_key_.empty()) next_block_ = to_int(last_key_.front());  // resumed
      last_lag_check_ms_ = -1;
      op_ = batch_op(now_ms);
      return;
    }
    case Op::backfill_lag:
      replica_lag_read(r, now_ms);
      return;
    case Op::backfill_batch:
      if (!r.ok()) {
        attempt_failed(r);
        return;
      }
      backfill_batch_done(r, now_ms);
      return;
    case Op::restore_settings:
      if (repeat_after_cancel(r)) return;
      settings_saved_ = false;
      if (outcome_)
        op_ = Op::finished;
      else
        start_phase(now_ms);  // a passthrough query next, or the end
      return;
    case Op::begin:
    case Op::finished:
      return;
  }
}

bool PlanRunner::repeat_after_cancel(const QueryResult& r) {
  // Three: one CancelRequest cancels at most one statement, and a client pressing Ctrl-C twice
  // should still get its settings back.
  if (r.sqlstate() != "57014" || cancelled_repeats_ >= 3) return false;
  ++cancelled_repeats_;
  return true;
}

PlanRunner::Op PlanRunner::batch_op(std::int64_t now_ms) const {
  const auto& b = *phase().backfill;
  const bool due = last_lag_check_ms_ < 0 || now_ms - last_lag_check_ms_ >= kLagCheckEveryMs;
  return b.max_replica_lag_bytes > 0 && lag_readable_ && due ? Op::backfill_lag : Op::backfill_batch;
}

void PlanRunner::replica_lag_read(const QueryResult& r, std::int64_t now_ms) {
  const auto& b = *phase().backfill;
  last_lag_check_ms_ = now_ms;
  // Rows: application_name, client address, state unreadable (no pg_read_all_stats), lag bytes.
  std::int64_t worst = -1;
  std::string who;
  bool hidden = false;
  if (r.ok()) {
    for (const auto& row : r.rows) {
      if (row.size() < 4) continue;
      if (row[2] == std::optional<std::string>("true")) {
        hidden = true;
        continue;
      }
      if (!row[3]) continue;  // a replica still starting up reports no replay position
      const std::int64_t lag = to_int(row[3]);
      if (lag > worst) {
        worst = lag;
        who = "'" + row[0].value_or("") + "' (" + row[1].value_or("") + ")";
      }
    }
  }
  if (!r.ok() || (hidden && worst < 0)) {
    // Never wait on what cannot be seen, but say so once: the operator asked for a throttle.
    lag_readable_ = false;
    notices_.push_back(
        "schemagate: backfill of " + b.table + "." + b.column + " cannot see its replicas' replay lag (" +
        (r.ok() ? std::string("pg_stat_replication hides it from roles without pg_read_all_stats")
                : "pg_stat_replication: " + (r.error ? r.error->message : std::string("no reply"))) +
        "); it runs without the replica lag throttle");
    op_ = Op::backfill_batch;
    return;
  }
  const auto limit = static_cast<std::int64_t>(b.max_replica_lag_bytes);
  if (worst > limit) {
    if (!waiting_for_replica_) {
      waiting_for_replica_ = true;
      ++replica_waits_;
      wait_started_ms_ = last_wait_notice_ms_ = now_ms;
      notices_.push_back("schemagate: backfill of " + b.table + "." + b.column + " waits: replica " + who + " is " +
                         wal_size(worst) + " behind in replay, above backfill_max_replica_lag (" +
                         wal_size(limit) + ")");
    } else if (now_ms - last_wait_notice_ms_ >= kProgressEveryMs) {
      last_wait_notice_ms_ = now_ms;
      notices_.push_back("schemagate: backfill of " + b.table + "." + b.column + " still waiting for replica " + who +
                         ": " + wal_size(worst) + " behind (waited " + seconds(now_ms - wait_started_ms_) + ")");
    }
    sleep_before_ms_ = kLagWaitMs;
    op_ = Op::backfill_lag;
    return;
  }
  if (waiting_for_replica_) {
    waiting_for_replica_ = false;
    notices_.push_back("schemagate: backfill of " + b.table + "." + b.column + " goes on: replicas within " +
                       wal_size(limit) + " after " + seconds(now_ms - wait_started_ms_));
  }
  op_ = Op::backfill_batch;
}

}  // namespace schemagate::proxy
