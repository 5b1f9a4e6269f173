#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/policy_model.h"
#include "config/policy_section.h"
#include "config/yaml_section.h"
#include "policy/client_text.h"
#include "policy/decision.h"
#include "policy/facts.h"
#include "policy/planner.h"
#include "policy/sql_parser.h"

namespace schemagate::policy {

/// Who sends the statement and in what session state (from the startup packet and 'Z'/'S' messages).
struct SessionInfo {
  std::string user;
  std::string database;
  std::string application_name;
  std::string client_addr;
  char tx_status = 'I';             // ReadyForQuery: 'I' idle, 'T' in a block, 'E' failed block
  int server_version_num = 0;       // 0: ask CatalogFacts, else assume 15
  bool lock_timeout_set = false;    // the session already has a non-zero lock_timeout
  std::vector<std::string> roles;   // roles the user is known to hold (optional; for `role:` scopes)
  /// The role statements run as, when it is not `user` (ParameterStatus session_authorization
  /// after SET SESSION AUTHORIZATION); CatalogFacts::identity(), when read, overrides both.
  std::string role;
  /// How the server reads the text (ParameterStatus standard_conforming_strings, client_encoding).
  LexicalSettings lexical;
  /// Earlier requests are still unanswered, so `lexical` and `tx_status` may change before this
  /// text runs (a SET or set_config(), a ROLLBACK). A text that would read differently under
  /// another setting is then refused (rule unreadable_text) rather than judged under a guess.
  bool replies_pending = false;
  /// The open transaction took ACCESS EXCLUSIVE on an existing table in a statement judged
  /// earlier: its ordinary DML is judged too, since an UPDATE of every row now keeps that table
  /// locked for its whole run (rule long_statement_under_exclusive_lock).
  bool exclusive_lock_held = false;
  /// The session's TimeZone (ParameterStatus); empty when unknown.
  std::string time_zone;
};

/// Decides, per statement, what the policy does. Immutable after construction: evaluate() is
/// const, pure (no I/O, no clock) and safe to call from many threads at once.
class PolicyEngine {
 public:
  /// Builds an engine; the policy should have passed validate_policy(). `planner` defaults to DefaultPlanner.
  explicit PolicyEngine(config::Policy policy, std::unique_ptr<const Planner> planner = nullptr,
                        std::size_t parse_cache_entries = 1024);
  PolicyEngine(PolicyEngine&&) noexcept = default;
  PolicyEngine& operator=(PolicyEngine&&) noexcept = default;

  /// Judges the SQL of one client message (Query body or Parse statement). Statements of a
  /// multi-statement message share one implicit transaction, as in PostgreSQL.
  BatchDecision evaluate(std::string_view sql, const SessionInfo& session, const CatalogFacts* facts) const;

  /// Judges a migration script run statement by statement (psql -f semantics: no implicit
  /// transaction, explicit BEGIN/COMMIT tracked). Always parses (no fast path), so syntax errors surface.
  BatchDecision evaluate_script(std::string_view sql, const SessionInfo& session, const CatalogFacts* facts) const;

  /// Tables whose facts evaluate() may ask for, so a live CatalogFacts can prefetch them first.
  /// Names the proxy could not spell in the session's client encoding are left out.
  std::vector<QualifiedName> referenced_tables(std::string_view sql, const LexicalSettings& lexical = {},
                                               bool include_dml = false) const;

  /// Whether some scope matches on users or roles, so the proxy must know the current role.
  bool scopes_match_identity() const;

  /// The policy in force.
  const config::Policy& policy() const { return policy_; }
  /// Parse cache statistics.
  SqlParser::Stats cache_stats() const { return parser_->stats(); }

 private:
  BatchDecision run(std::string_view sql, const SessionInfo& session, const CatalogFacts* facts, bool script) const;
  /// Judges the text as the server reads it under `lexical`.
  BatchDecision read_and_judge(std::string_view sql, const SessionInfo& session, const CatalogFacts* facts, bool script,
                               const LexicalSettings& lexical) const;

  config::Policy policy_;
  std::unique_ptr<const Planner> planner_;
  std::unique_ptr<SqlParser> parser_;
};

/// Checks what config cannot: rule ids in `rules:` and `scopes[i].rules:` exist in the catalogue.
std::vector<config::ConfigError> validate_policy(const config::Policy& policy);

/// config::load_policy_file plus validate_policy.
config::PolicyLoadResult load_policy_file(const std::string& path);
/// config::load_policy_text plus validate_policy.
config::PolicyLoadResult load_policy_text(const std::string& yaml_text);

/// Glob match with * and ? (case-sensitive), for application_name and table patterns.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace schemagate::policy
