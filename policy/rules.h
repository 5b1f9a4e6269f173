#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/policy_model.h"
#include "policy/decision.h"
#include "policy/facts.h"
#include "policy/object_rules.h"
#include "policy/statement.h"

namespace schemagate::policy {

/// One entry of the rule catalogue (docs/rules.md lists them all).
struct RuleInfo {
  std::string_view id;            // stable snake_case id, used in policies and output
  Outcome default_action;         // the safe default
  std::string_view why;           // one line: why it is risky
  std::string_view facts;         // lock / rewrite / scan facts
  std::string_view alternative;   // the safe way
  bool size_dependent = false;    // a small table may use the plain form
};

/// The whole catalogue, in documentation order.
const std::vector<RuleInfo>& rule_catalogue();
/// A rule by id, or nullptr.
const RuleInfo* find_rule(std::string_view id);

/// What the statements before this one (in the same message or file) established.
struct RuleContext {
  const config::PolicyThresholds* thresholds = nullptr;
  const CatalogFacts* facts = nullptr;
  int server_version_num = 150000;
  bool assume_large_tables = false;  // ignore "created in this batch" when judging size
  bool in_transaction = false;       // an explicit transaction block is open
  bool implicit_transaction = false;  // several statements in one simple Query message
  bool lock_timeout_set = false;
  std::string time_zone;  // the session's TimeZone while nothing in the message may have changed it, else empty
  std::set<std::string> created_tables;                        // lower-case display names
  std::set<std::pair<std::string, std::string>> not_valid;     // (table, constraint) added NOT VALID
  std::vector<std::pair<std::string, std::vector<std::string>>> created_indexes;  // (table, columns)
  ObjectRuleState objects;  // for the object rules (policy/object_rules.h)
  /// Tables (lower-case display names) an earlier statement of the transaction locked ACCESS
  /// EXCLUSIVE; the live facts add those earlier messages locked (policy/transaction_rules.h).
  std::set<std::string> exclusive_tables;

  /// Whether the table counts as small (created in this batch, or below small_table_rows).
  bool is_small(const ObjectRef& table) const;
  /// Whether the transaction already holds ACCESS EXCLUSIVE on the table.
  bool holds_access_exclusive(const ObjectRef& table) const;
  /// Inside a transaction (explicit or implicit).
  bool transactional() const { return in_transaction || implicit_transaction; }
};

/// Whether the live facts prove `column` NOT NULL already, so SET NOT NULL needs no scan: the
/// column is NOT NULL, or (PostgreSQL 12+) a validated CHECK (col IS NOT NULL [AND …]) exists.
bool proves_not_null(const CatalogFacts* facts, const QualifiedName& table, std::string_view column,
                     int server_version_num);

/// Runs every rule on one statement. Findings carry the rule's default action; the engine applies
/// the policy's overrides afterwards.
std::vector<Finding> check_rules(const Statement& s, const RuleContext& ctx);

/// Records what `s` establishes for later statements (BEGIN, SET lock_timeout, CREATE TABLE, …).
void update_context(const Statement& s, RuleContext& ctx);

}  // namespace schemagate::policy
