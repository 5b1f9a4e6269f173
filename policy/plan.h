#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace schemagate::policy {

/// How a phase is retried when its lock is not granted within lock_timeout (SQLSTATE 55P03).
/// The wait before attempt n+1 is backoff_ms · 2^(n-1), plus up to 50 % random jitter so that
/// several proxies retrying against the same blocker do not line up.
struct RetryPolicy {
  std::uint32_t max_attempts = 1;  // 1: no retry
  std::uint32_t backoff_ms = 0;    // wait before the second attempt
};

/// How a phase runs. The executor (proxy/plan_runner.h) turns each kind into the statements
/// it sends; the planner only says which kind a step is.
enum class PhaseKind {
  /// Read-only query returning one boolean, run before anything changes; true stops the plan
  /// with `failure_message` (duplicates before a unique index, NULLs before NOT NULL).
  precheck,
  /// Short DDL in its own transaction under SET LOCAL lock_timeout; 55P03 is retried.
  guarded,
  /// Long step that takes only non-blocking locks (VALIDATE CONSTRAINT): lock_timeout on
  /// acquisition, statement_timeout 0, its own transaction.
  online,
  /// Must run outside a transaction block (the CONCURRENTLY forms): session-level lock_timeout,
  /// `cleanup_sql` after a failed attempt (an INVALID index is dropped before a retry).
  autocommit,
  /// Batched UPDATE walking the primary key in key order (ctid ranges without a key); each
  /// batch is its own short transaction.
  backfill,
  /// An online step deferred until the client's transaction commits (the VALIDATE of a
  /// constraint added NOT VALID inside that transaction); dropped if it rolls back. Runs as
  /// `online` once the transaction has committed. See defer_to_commit().
  after_commit,
  /// Another statement of the client's multi-statement message, a read-only query, sent as
  /// written (`sql` is the client's own bytes) in its place in the message, its replies relayed
  /// to the client. Lets a statement that must run outside a transaction block share a message
  /// with queries (see split_message()).
  passthrough,
};

/// Name of a phase kind as printed by `plan`/`explain` ("guarded", "autocommit", ...).
const char* phase_kind_name(PhaseKind k);

/// What a backfill phase updates. All names are already quoted (quote_ident/quote_qualified).
struct Backfill {
  std::string table;               // quoted, schema-qualified when the statement was
  std::string column;              // quoted column to fill
  std::string value = "DEFAULT";   // expression assigned to each row still NULL
  std::uint32_t batch_rows = 10000;
  std::uint32_t pause_ms = 0;      // sleep between batches
  /// Wait before a batch while a replica is further behind than this in replay (WAL bytes,
  /// from pg_stat_replication); 0: never wait.
  std::uint64_t max_replica_lag_bytes = 0;
};

/// One step of a rewrite plan, run by the proxy on the client's own connection.
struct Phase {
  PhaseKind kind = PhaseKind::guarded;
  std::string description;          // one line for the NOTICE and the journal
  std::string sql;                  // generated with quote_*/deparse only (empty for backfill)
  std::string table;                // quoted table the phase locks, to name blockers in SG004
  std::uint32_t lock_timeout_ms = 0;  // 0: the session's own setting applies
  RetryPolicy retry;
  std::string cleanup_sql;          // run after a failed attempt and before the plan stops; may be empty
  std::string failure_message;      // precheck: the error when the check returns true
  std::optional<Backfill> backfill;  // set for PhaseKind::backfill

  /// True when the phase cannot run inside a transaction block.
  bool outside_transaction() const {
    return kind == PhaseKind::autocommit || kind == PhaseKind::backfill || kind == PhaseKind::online;
  }
};

/// A phased replacement for one statement.
struct Plan {
  std::string rule_id;  // the rule that asked for the rewrite
  std::string summary;  // e.g. "build the index without blocking writes"
  std::vector<Phase> phases;
  /// True if any phase must run outside a transaction block.
  bool needs_outside_transaction() const {
    for (const auto& p : phases)
      if (p.outside_transaction()) return true;
    return false;
  }
  /// Phases that are the statement's own (not passthrough).
  std::size_t own_phase_count() const {
    std::size_t n = 0;
    for (const auto& p : phases) n += p.kind == PhaseKind::passthrough ? 0 : 1;
    return n;
  }
  /// Index of the first after_commit phase, or phases.size() when there is none.
  std::size_t first_after_commit() const {
    for (std::size_t i = 0; i < phases.size(); ++i)
      if (phases[i].kind == PhaseKind::after_commit) return i;
    return phases.size();
  }
};

/// For a plan about to run inside the client's transaction: when the only phases that cannot
/// run there are online ones at its end, after at least one that can (add NOT VALID, then
/// VALIDATE), those become after_commit phases and the plan can start. Their cleanup is dropped:
/// once the client's transaction has committed, the constraint it added stays (NOT VALID, still
/// enforced for new rows) when validation fails, rather than being removed behind a committed
/// migration's back. False, and the plan unchanged, otherwise.
bool defer_to_commit(Plan& plan);

/// For a statement that shares a simple Query message with read-only queries: the plan runs the
/// queries before it and after it as passthrough phases, in the message's order. `before` and
/// `after` are the queries' texts as the client sent them.
void split_message(Plan& plan, const std::vector<std::string>& before, const std::vector<std::string>& after);

}  // namespace schemagate::policy
