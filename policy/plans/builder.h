#pragma once
// Shared pieces of the built-in plans (policy/plans/*.cc). Internal to sg_policy.
//
// Every plan is built from shallow copies of the (cached, shared, const) parse tree with one field
// changed, deparsed by libpg_query, or from quote_* helpers. No user text is ever concatenated raw.
#include <pg_query/pg_query.pb-c.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "policy/names.h"
#include "policy/planner.h"

namespace schemagate::policy::plans {

/// One plan under construction: the statement, the context, names taken so far, and phases.
/// Prechecks are kept apart and put first, so they run before anything changes.
struct Builder {
  const Statement& s;
  const PlanContext& ctx;
  TakenNames taken;
  std::vector<Phase> prechecks;
  std::vector<Phase> phases;
  std::set<std::string> new_columns;  // columns an earlier action of this statement adds
  std::set<std::string> handled;      // rule ids the plan satisfies
  std::string summary;
  std::string why_not;

  /// A phase with the policy's lock_timeout and retry settings.
  Phase phase(PhaseKind kind, std::string description, std::string sql, std::string table) const;
  /// Adds a phase (prechecks go to the front of the plan).
  void add(Phase p);
  /// Adds a precheck: `sql` must return one boolean; true stops the plan with `message`.
  void add_precheck(std::string description, std::string sql, std::string table, std::string message);
  /// Fails the plan with a reason; returns false for `return b.fail(...)`.
  bool fail(std::string reason);
  /// The finished plan (prechecks first).
  Plan finish();
};

/// Placeholder deparsed in place of index and constraint names: libpg_query 15-4.0.0 prints
/// them unquoted, so "Idx" or a hostile name would come out wrong.
inline constexpr std::string_view kPlaceholder = "sg_name_placeholder_4f1d";

/// Replaces the single `placeholder` with quote_ident(real); nullopt unless it occurs once.
std::optional<std::string> substitute_name(std::optional<std::string> sql, std::string_view real,
                                           std::string_view placeholder = kPlaceholder);
/// Last line of defence: the SQL parses back to exactly one statement of kind `expected`.
std::optional<std::string> verified(std::optional<std::string> sql, PgQuery__Node__NodeCase expected);
/// Whether `sql` parses to a statement whose tree equals `node` (locations ignored).
bool same_statement(std::string_view sql, const PgQuery__Node* node);

/// "schema"."name" of a RangeVar, quoted.
std::string qualified(const PgQuery__RangeVar* rv);
/// The names in the table's namespace that the facts know of (its indexes and constraints).
TakenNames taken_names(const CatalogFacts* facts, const PgQuery__RangeVar* rv);
/// Whether the facts describe the table completely (its index and constraint lists are real).
bool described(const CatalogFacts* facts, const PgQuery__RangeVar* rv);

/// Deparses an ALTER TABLE (a copy of `stmt` with `a`), constraint names quoted correctly.
std::optional<std::string> deparse_alter(const PgQuery__Node* stmt, const PgQuery__AlterTableStmt& a);
/// Deparses `a` with only `cmd` as its action.
std::optional<std::string> deparse_one_action(const PgQuery__Node* stmt, const PgQuery__AlterTableStmt& a,
                                              const PgQuery__Node* cmd);

/// A String node pointing at `s` (which must outlive the node).
PgQuery__Node string_node(PgQuery__String& holder, std::string& s);

/// "(col1, col2)" list of quoted names.
std::string column_list(const std::vector<std::string>& cols);
/// "a IS NOT NULL AND b IS NOT NULL" (or OR / IS NULL) over quoted names.
std::string null_tests(const std::vector<std::string>& cols, bool is_null, std::string_view joiner);

// The plans, one per statement kind; each returns false with b.why_not set when it cannot plan.
bool plan_create_index(Builder& b);
bool plan_drop_index(Builder& b);
bool plan_reindex(Builder& b);
bool plan_refresh(Builder& b);
/// ALTER TABLE, one or several actions; `rules` are the rewrite findings to satisfy.
bool plan_alter_table(Builder& b, const std::set<std::string>& rules);
/// The statement unchanged, as one phase under lock_timeout (the require_lock_timeout rewrite).
bool plan_guarded(Builder& b);

// Steps shared by several plans (policy/plans/constraint_plans.cc).
/// ADD CONSTRAINT … NOT VALID, then VALIDATE (FOREIGN KEY, CHECK). `con` is copied, never changed.
bool add_not_valid(Builder& b, const PgQuery__AlterTableStmt& a, const PgQuery__Constraint& con, const std::string& name);
/// Which duplicate check runs before a unique index is built.
enum class UniquePrecheck {
  keys,      // duplicates among the existing (non-null) keys; NULLs too for a primary key
  one_row,   // a new column with one constant default: more than one row means duplicates
  none,      // nothing can be checked up front (a column filled later)
};
/// CREATE UNIQUE INDEX CONCURRENTLY + ADD CONSTRAINT … USING INDEX (UNIQUE, PRIMARY KEY).
/// `not_null_done`: the key columns are already NOT NULL (a primary key needs them so).
bool add_unique(Builder& b, const PgQuery__AlterTableStmt& a, const PgQuery__Constraint& con,
                const std::vector<std::string>& cols, const std::string& name, UniquePrecheck check, bool not_null_done);
/// NOT NULL through a validated helper CHECK: add NOT VALID, VALIDATE, SET NOT NULL, drop it.
bool add_not_null(Builder& b, const PgQuery__AlterTableStmt& a, const std::vector<std::string>& cols, bool precheck);
/// "ALTER TABLE [IF EXISTS] [ONLY] t": the prefix of generated ALTER TABLE statements.
std::string alter_prefix(const PgQuery__AlterTableStmt& a);
/// The name PostgreSQL gives an unnamed constraint on `table` (`column`: the column it is
/// declared on, for column constraints).
std::string constraint_name(Builder& b, const PgQuery__Constraint& con, std::string_view table,
                            const std::vector<std::string>& columns);

}  // namespace schemagate::policy::plans
