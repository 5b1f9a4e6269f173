#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/policy_model.h"
#include "policy/plan.h"
#include "policy/sql_parser.h"
#include "policy/statement.h"

namespace schemagate::policy {

/// The closed set of verdicts, mildest first (same order as the policy's actions).
using Outcome = config::RuleAction;

/// Lower-case name of an outcome ("pass", "warn", "rewrite", "hold", "reject").
inline const char* outcome_name(Outcome o) { return config::to_string(o); }

/// SQLSTATEs of policy outcomes (class SG, see docs/policy.md).
inline constexpr const char* kSqlStateRejected = "SG001";
inline constexpr const char* kSqlStateNotInTransaction = "SG005";

/// One rule that matched a statement, with the action the policy assigns to it.
struct Finding {
  std::string rule_id;
  Outcome action = Outcome::warn;
  std::string message;  // what is wrong, one line
  std::string detail;   // the risk: lock, rewrite, scan, size
  std::string hint;     // the safe way
};

/// The verdict on one statement.
struct StatementDecision {
  Statement statement;              // parse-tree facts (node pointer valid only during evaluate)
  Outcome outcome = Outcome::pass;
  std::vector<std::string> rule_ids;  // rules that decided the outcome (empty: default action)
  std::vector<Finding> findings;      // every rule that matched, including ones the policy passes
  std::string message, detail, hint;  // for the client's NOTICE/ERROR
  std::string sqlstate;               // SG001 / SG005 for reject, empty otherwise
  std::optional<Plan> plan;           // for rewrite
  std::string scope;                  // name of the policy scope that applied ("" = global)
  std::optional<std::uint64_t> fingerprint;  // shape of a schema-changing statement
  std::optional<SyntaxError> syntax_error;   // set when this piece did not parse
};

/// The verdict on one client message (or one migration file).
struct BatchDecision {
  std::vector<StatementDecision> statements;  // empty on the fast path
  Outcome outcome = Outcome::pass;            // the strongest statement outcome
  bool enforced = true;                       // false in observe mode: forward and log only
  bool fast_path = false;                     // the pre-classifier proved it ordinary; nothing parsed
  std::optional<SyntaxError> syntax_error;    // the grammar rejected the text
  /// Whether lock_timeout is set once the message has run (SET/RESET lock_timeout in it), so the
  /// proxy can keep SessionInfo::lock_timeout_set current. Equals the input on the fast path.
  bool lock_timeout_set_after = false;
  /// Index of the first statement with the overall outcome, or -1 when all pass.
  int decisive_index() const {
    for (std::size_t i = 0; i < statements.size(); ++i)
      if (statements[i].outcome == outcome && outcome != Outcome::pass) return static_cast<int>(i);
    return -1;
  }
};

}  // namespace schemagate::policy
