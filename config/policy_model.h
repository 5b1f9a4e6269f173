#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace schemagate::config {

/// observe: decide and log, forward everything. enforce: act on decisions.
enum class PolicyMode { observe, enforce };

/// What the policy does with a statement or a rule finding, mildest first.
enum class RuleAction { pass, warn, rewrite, hold, reject };

/// Numeric knobs shared by the rules and the planner.
struct PolicyThresholds {
  /// Tables with fewer estimated rows may use the plain (locking) form of a statement.
  std::uint64_t small_table_rows = 10000;
  /// lock_timeout the planner puts on every generated phase, in milliseconds.
  std::uint32_t lock_timeout_ms = 2000;
  /// Attempts per phase when the lock is not granted in time.
  std::uint32_t retry_attempts = 5;
  /// Wait between attempts (doubled each time), in milliseconds.
  std::uint32_t retry_backoff_ms = 500;
  /// Rows per batch in generated backfills.
  std::uint32_t backfill_batch_rows = 10000;
  /// Sleep between backfill batches, in milliseconds (gives replicas and autovacuum room).
  std::uint32_t backfill_pause_ms = 0;
  /// A backfill waits before its next batch while a replica reported by pg_stat_replication is
  /// further behind than this in replay, in bytes of WAL; 0: never wait.
  std::uint64_t backfill_max_replica_lag_bytes = 128ULL << 20;
  /// Non-unique indexes with more columns than this are flagged (advisory).
  std::uint32_t max_index_columns = 3;
};

/// Who and what a scoped rule applies to; an empty list matches anything.
struct PolicyMatch {
  std::vector<std::string> users;              // session user names (exact)
  std::vector<std::string> roles;              // role names: the session user or a role it is known to hold
  std::vector<std::string> databases;          // exact
  std::vector<std::string> application_names;  // glob (* and ?)
  std::vector<std::string> tables;             // glob on "schema.table" or "table"
};

/// One ordered entry of `scopes:`; the first entry whose match holds decides.
struct PolicyScope {
  std::string name;
  PolicyMatch match;
  /// Forced outcome for every schema-changing statement in scope (e.g. dba → pass, app → reject).
  std::optional<RuleAction> action;
  /// Outcome for schema-changing statements that no rule flags, inside this scope.
  std::optional<RuleAction> default_action;
  /// Per-rule overrides inside this scope; rules not listed fall back to the global `rules:`.
  std::map<std::string, RuleAction> rules;
  std::map<std::string, int> rule_lines;  // rule id → YAML line, so unknown ids can be reported later
  int line = 0;                           // where it was declared, for messages
};

/// A complete statement policy (the policy file, or the inline `policy:` keys of the proxy config).
struct Policy {
  PolicyMode mode = PolicyMode::enforce;
  /// Outcome for schema-changing statements that no rule flags.
  RuleAction default_action = RuleAction::pass;
  /// Outcome for text the parser rejects although it looks schema-changing (pseudo-rule `unparsable`).
  RuleAction unparsable = RuleAction::pass;
  /// What `schemagate check` counts as a failure (exit 1): findings at or above this action.
  RuleAction check_fail_level = RuleAction::warn;
  PolicyThresholds thresholds;
  /// Global per-rule action overrides, by rule id.
  std::map<std::string, RuleAction> rules;
  std::map<std::string, int> rule_lines;  // rule id → YAML line (rule ids are checked by sg_policy)
  std::vector<PolicyScope> scopes;
  std::string key_prefix;  // "" for a policy file, "policy" for the inline section (for error keys)
};

/// Where the statement policy comes from and how it is applied.
struct PolicyRef {
  std::string file;  // empty: inline policy or built-in safe defaults
  /// Set by `policy.mode` or `--mode`; when set it overrides the policy's own `mode`.
  std::optional<PolicyMode> mode;
  /// Policy keys written directly under `policy:` in the proxy config (exclusive with `file`).
  std::optional<Policy> inline_policy;
};

/// Name of an action as written in YAML ("pass", "warn", ...).
const char* to_string(RuleAction a);
/// Name of a mode as written in YAML.
const char* to_string(PolicyMode m);

}  // namespace schemagate::config
