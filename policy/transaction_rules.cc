#include "policy/transaction_rules.h"

#include <pg_query/pg_query.pb-c.h>

#include "policy/classifier_internal.h"
#include "policy/facts.h"
#include "policy/rule_findings.h"
#include "policy/rules.h"

namespace schemagate::policy {

namespace {

bool is_table(const ObjectRef& o) { return o.kind == "table" || o.kind == "materialized view"; }

// A WHERE clause that still selects every row a backfill touches: only IS [NOT] NULL tests,
// joined by AND / OR. Anything else (a key range, a comparison) may be a batch: not judged.
bool only_null_tests(const PgQuery__Node* n, int depth = 0) {
  if (!n || depth > 32) return false;
  if (n->node_case == PG_QUERY__NODE__NODE_NULL_TEST) return true;
  if (n->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR && n->bool_expr->boolop != PG_QUERY__BOOL_EXPR_TYPE__NOT_EXPR) {
    for (std::size_t i = 0; i < n->bool_expr->n_args; ++i)
      if (!only_null_tests(n->bool_expr->args[i], depth + 1)) return false;
    return n->bool_expr->n_args > 0;
  }
  return false;
}

std::optional<WholeTableRun> whole_table_dml(const PgQuery__RangeVar* rv, const PgQuery__Node* where,
                                             const CatalogFacts* facts, const char* what) {
  if (!rv || (where && !only_null_tests(where))) return std::nullopt;
  return WholeTableRun{detail::object(rv, "table", LockLevel::row_exclusive, facts), what};
}

}  // namespace

std::optional<WholeTableRun> whole_table_run(const Statement& s, const CatalogFacts* facts) {
  const PgQuery__Node* n = s.node;
  if (n && n->node_case == PG_QUERY__NODE__NODE_UPDATE_STMT)
    return whole_table_dml(n->update_stmt->relation, n->update_stmt->where_clause, facts, "updates every row of");
  if (n && n->node_case == PG_QUERY__NODE__NODE_DELETE_STMT)
    return whole_table_dml(n->delete_stmt->relation, n->delete_stmt->where_clause, facts, "deletes every row of");
  if (!s.scans_table && !s.rewrites_table) return std::nullopt;
  for (const auto& o : s.objects)
    if (is_table(o) && !o.created && o.lock != LockLevel::access_exclusive)
      return WholeTableRun{o, s.rewrites_table ? "rewrites" : "scans"};
  return std::nullopt;
}

void check_transaction_rules(const Statement& s, const RuleContext& ctx, std::vector<Finding>& out) {
  const auto run = whole_table_run(s, ctx.facts);
  if (!run || ctx.is_small(run->table) || !ctx.holds_access_exclusive(run->table)) return;
  const std::string t = run->table.display();
  detail::FindingSink{out}.add(
      "long_statement_under_exclusive_lock",
      s.operation + " " + run->what + " " + t + " while this transaction holds ACCESS EXCLUSIVE on it",
      "An earlier statement of the transaction locked " + t +
          " in ACCESS EXCLUSIVE mode; the lock is held until COMMIT, so every read and write of " + t +
          " waits for the whole of this statement.");
}

void update_transaction_context(const Statement& s, RuleContext& ctx) {
  if (!ctx.transactional()) return;
  for (const auto& o : s.objects)
    if (is_table(o) && !o.created && o.lock == LockLevel::access_exclusive)
      ctx.exclusive_tables.insert(detail::lower(o.display()));
}

}  // namespace schemagate::policy
