#pragma once
#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "policy/plan.h"
#include "protocol/backend.h"
#include "proxy/server_exchange.h"

namespace schemagate::proxy {

/// Where an interrupted plan picks up again (from the journal).
struct ResumePoint {
  std::size_t phase = 0;               // first unfinished phase
  std::int64_t rows_backfilled = 0;    // rows the running backfill had filled
  std::vector<std::string> last_key;   // the backfill's last key (keyset mode), text values
};

/// One thing the I/O side must do next.
struct PlanStep {
  enum Kind {
    query,   // send `sql` as one simple Query, hand the QueryResult to on_result()
    sleep,   // wait `sleep_ms` (backoff, batch pause), then call next() again
    notice,  // send `text` to the client as a NOTICE, then call next() again
    /// The statement's own phases are done and passthrough queries of its message follow: the
    /// client gets the original command tag now, in its place in the message.
    statement_done,
    done,    // the plan succeeded: the client gets the original command tag (unless statement_done gave it)
    failed,  // the plan stopped: the client gets `error` (schema consistent, cleanup done)
  };
  Kind kind = done;
  std::string sql;
  /// query: a passthrough statement of the client's message; its replies (rows, errors, notices)
  /// go to the client as the server sends them, ReadyForQuery left out.
  bool relay = false;
  /// failed: the error is a passthrough statement's own, already relayed to the client.
  bool error_relayed = false;
  std::uint32_t sleep_ms = 0;
  std::string text;
  protocol::ErrorFields error;
};

/// How one phase ended, for metrics and the audit log.
struct PhaseRecord {
  std::size_t index = 0;  // 0-based
  std::string description;
  std::int64_t duration_ms = 0;  // including lock_timeout retries and backoff
  std::uint32_t attempts = 0;
  std::int64_t rows = 0;         // backfill: rows of the whole plan so far
  bool ok = false;
  std::string sqlstate;          // failed: why
};

/// The step logic of a rewrite plan: which statement comes next, retries with backoff and
/// jitter, cleanup after a failed attempt, backfill batches, restoring the session's settings.
/// It does no I/O and reads no clock (the caller passes `now_ms`), so it is unit-tested
/// against scripted results. The session's coroutine (Session::run_plan) does the I/O.
///
///   save settings ─► phase 1 ─► … ─► phase n ─► restore settings ─► done
///   an attempt fails ─► ROLLBACK (if its block is aborted) ─► cleanup_sql (if any)
///     ├─ 55P03 with attempts left ─► sleep backoff·2^k + jitter ─► the attempt again
///     └─ otherwise ─► (55P03: look up the blocker) ─► restore settings ─► failed
///
/// Per phase kind (see policy/plan.h):
///   passthrough `sql` as the client wrote it, its replies relayed; run with the client's own
///               settings (restored first when a phase before it changed them); an error ends the
///               plan as it would end the message
///   precheck    `sql`; a true answer fails the plan with the phase's failure_message
///   guarded     BEGIN; SET LOCAL lock_timeout; sql; COMMIT       (one message)
///   online      … plus SET LOCAL statement_timeout = 0
///   autocommit  SET lock_timeout (session); sql alone
///   backfill    SET lock_timeout; primary key lookup; size estimate; batches until one finds no row;
///               before a batch (at most once a second), the replicas' replay lag from
///               pg_stat_replication: above max_replica_lag_bytes it waits, re-checking every second
/// cancel() stops at the next step boundary: the running statement was cancelled by the server
/// (57014), cleanup and restore still run, and the plan fails with 57014.
class PlanRunner {
 public:
  /// `in_client_transaction`: the plan (guarded and precheck phases only) runs inside the
  /// client's open transaction block, in place of its statement: each attempt is wrapped in a
  /// savepoint instead of BEGIN/COMMIT, a failed one is rolled back to it, the settings are
  /// restored locally, and on failure nothing is cleaned up — the session aborts the client's
  /// transaction, which undoes every phase.
  PlanRunner(const policy::Plan& plan, std::uint64_t seed, ResumePoint resume = {}, bool in_client_transaction = false);

  PlanStep next(std::int64_t now_ms);
  /// The answer to the last `query` step.
  void on_result(const QueryResult& r, std::int64_t now_ms);
  /// The client asked to stop (CancelRequest) or went away.
  void cancel() { cancelled_ = true; }
  /// After a `done` inside the client's transaction: the phases from this index on wait for its
  /// COMMIT (after_commit); plan.phases.size() when nothing waits.
  std::size_t deferred_from() const { return in_transaction_ ? std::min(index_, plan_.phases.size()) : plan_.phases.size(); }

  /// The statement's own phases have all completed (a passthrough query after them may still fail).
  bool statement_completed() const { return index_ >= trailing_from_ && phases_done_ >= trailing_from_; }
  /// A statement_done step was given: the client has its command tag already.
  bool statement_replied() const { return statement_replied_; }
  /// Phases completed so far (the resume point for the journal).
  std::size_t phases_done() const { return phases_done_; }
  std::int64_t rows_backfilled() const { return rows_; }
  const std::vector<std::string>& last_key() const { return last_key_; }
  bool cancelled() const { return cancelled_; }
  /// After a failure: true when it was an interruption (cancel, lost connection, a lock never
  /// granted) that left the plan at a phase boundary, so sending the statement again resumes it;
  /// false when the plan failed for good (its cleanup undid the failed phase's work).
  bool resumable() const { return resumable_; }
  /// Phases that ended since the last call (succeeded, or the one the plan failed in).
  std::vector<PhaseRecord> take_phase_records() { return std::exchange(records_, {}); }
  /// lock_timeout retries so far (all phases).
  std::uint32_t lock_timeout_retries() const { return retries_; }
  /// Times a backfill started waiting for a lagging replica.
  std::uint32_t replica_waits() const { return replica_waits_; }

  /// Statements of one backfill batch (exposed for tests and `schemagate plan`).
  static std::string keyset_batch_sql(const policy::Backfill& b, const std::vector<std::string>& key_columns,
                                      const std::vector<std::string>& after);
  static std::string ctid_batch_sql(const policy::Backfill& b, std::int64_t first_block, std::int64_t end_block);
  /// Wait before attempt `attempt + 1` (attempt ≥ 1): backoff · 2^(attempt-1) plus up to 50 % jitter.
  static std::uint32_t backoff_ms(const policy::RetryPolicy& r, std::uint32_t attempt, std::mt19937_64& rng);

 private:
  enum class Op {
    begin, save_settings, set_lock_timeout, attempt, rollback, cleanup, find_blocker,
    backfill_keys, backfill_size, backfill_lag, backfill_batch, restore_settings, finished,
  };
  Op batch_op(std::int64_t now_ms) const;
  void replica_lag_read(const QueryResult& r, std::int64_t now_ms);
  const policy::Phase& phase() const { return plan_.phases[index_]; }
  void start_phase(std::int64_t now_ms);
  void phase_succeeded(std::int64_t now_ms);
  void attempt_failed(const QueryResult& r);
  void after_rollback();
  void decide_after_failure(bool retry);
  void passthrough_failed(const QueryResult& r);
  void fail(std::string sqlstate, std::string message, std::string detail = {}, std::string hint = {});
  void backfill_batch_done(const QueryResult& r, std::int64_t now_ms);
  std::string attempt_sql() const;
  std::string done_so_far() const;

  const policy::Plan& plan_;
  std::mt19937_64 rng_;
  Op op_ = Op::begin;
  std::size_t index_ = 0;
  std::size_t phases_done_ = 0;
  std::size_t resume_from_ = 0;    // phases before it were done by an interrupted run
  std::size_t trailing_from_ = 0;  // the passthrough phases from here on follow the statement
  bool statement_done_pending_ = false;  // statement_done is the next step
  bool statement_replied_ = false;
  std::uint32_t attempt_ = 0;      // attempts of the current phase (or of the current batch)
  std::int64_t phase_started_ms_ = 0;
  std::uint32_t sleep_before_ms_ = 0;  // pending sleep before the next attempt
  bool cancelled_ = false;
  bool in_transaction_ = false;
  bool resumed_phase_ = false;     // the current phase is the one an interrupted run stopped in
  bool resumable_ = false;
  std::optional<QueryResult> last_failure_;
  bool cleaned_ = false;           // the failed attempt's cleanup_sql has run
  std::string cleanup_note_;       // appended to the error when a cleanup failed
  // A CancelRequest reaches the backend asynchronously: it may land on the statements sent after
  // the plan has already stopped (the cleanup, the settings restore). Those are sent again.
  std::uint32_t cancelled_repeats_ = 0;
  bool repeat_after_cancel(const QueryResult& r);
  std::deque<std::string> notices_;
  std::optional<PlanStep> outcome_;  // set once the plan has failed (sent after restore)
  std::string saved_lock_timeout_, saved_statement_timeout_;
  bool settings_saved_ = false;
  bool phase_open_ = false;        // a phase started and has no record yet
  std::int64_t now_ms_ = 0;        // the latest clock reading passed in
  std::uint32_t retries_ = 0;
  std::vector<PhaseRecord> records_;
  void record_phase(bool ok, const std::string& sqlstate);

  // backfill
  std::vector<std::string> key_columns_;  // quoted; empty: ctid ranges
  std::vector<std::string> last_key_;
  std::int64_t rows_ = 0, rows_estimate_ = 0;
  std::int64_t blocks_ = 0, next_block_ = 0, blocks_per_batch_ = 1;
  std::int64_t last_progress_ms_ = 0;
  bool backfill_exhausted_ = false;
  // replica lag throttle
  std::int64_t last_lag_check_ms_ = -1;  // -1: never checked in this phase
  bool lag_readable_ = true;             // false once pg_stat_replication proved unreadable
  bool waiting_for_replica_ = false;
  std::int64_t wait_started_ms_ = 0, last_wait_notice_ms_ = 0;
  std::uint32_t replica_waits_ = 0;
};

}  // namespace schemagate::proxy
