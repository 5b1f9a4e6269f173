#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace schemagate::policy {

/// How a phase is retried when its lock is not granted within lock_timeout.
struct RetryPolicy {
  std::uint32_t max_attempts = 1;  // 1: no retry
  std::uint32_t backoff_ms = 0;    // wait before the second attempt, doubled after each failure
};

/// One step of a rewrite plan, run by the proxy on the client's own connection.
struct Phase {
  std::string description;          // one line for the NOTICE and the audit log
  std::string sql;                  // generated with quote_*/deparse only
  bool outside_transaction = false;  // must not run inside a transaction block (CONCURRENTLY, backfill batches)
  std::uint32_t lock_timeout_ms = 0;  // SET lock_timeout before the phase; 0 = leave unset
  RetryPolicy retry;
  bool repeat_until_no_rows = false;  // batched backfill: run again until it reports 0 rows
  std::string on_failure_sql;         // cleanup if the phase fails (e.g. drop an invalid index); may be empty
};

/// A phased replacement for one statement.
struct Plan {
  std::string rule_id;  // the rule that asked for the rewrite
  std::string summary;  // e.g. "build the index without blocking writes"
  std::vector<Phase> phases;
  /// True if any phase must run outside a transaction block.
  bool needs_outside_transaction() const {
    for (const auto& p : phases)
      if (p.outside_transaction) return true;
    return false;
  }
};

}  // namespace schemagate::policy
