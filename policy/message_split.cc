#include "policy/message_split.h"

#include "policy/classifier.h"

namespace schemagate::policy {

namespace {

bool modifies_data(const PgQuery__SelectStmt* sel) {
  if (!sel) return false;
  if (sel->into_clause) return true;
  if (sel->with_clause)
    for (std::size_t i = 0; i < sel->with_clause->n_ctes; ++i) {
      const auto* c = sel->with_clause->ctes[i];
      if (c->node_case != PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR || !c->common_table_expr->ctequery) return true;
      const auto* q = c->common_table_expr->ctequery;
      if (q->node_case != PG_QUERY__NODE__NODE_SELECT_STMT || modifies_data(q->select_stmt)) return true;
    }
  return modifies_data(sel->larg) || modifies_data(sel->rarg);
}

}  // namespace

bool runs_apart_unchanged(const Statement& s) {
  if (s.klass != StatementClass::query || !s.node) return false;
  switch (s.node->node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT:
      return !modifies_data(s.node->select_stmt);
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT:
      return true;
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT: {
      // The class is query for EXPLAIN without ANALYZE, or for EXPLAIN ANALYZE of a query; a
      // data-modifying WITH under it is refused either way.
      const auto* q = s.node->explain_stmt->query;
      return !q || q->node_case != PG_QUERY__NODE__NODE_SELECT_STMT || !modifies_data(q->select_stmt);
    }
    default:
      return false;
  }
}

int lone_schema_change(const PgQuery__ParseResult* tree, const CatalogFacts* facts) {
  int lone = -1;
  for (std::size_t i = 0; i < tree->n_stmts; ++i) {
    Statement st;
    classify(tree->stmts[i]->stmt, facts, st);
    if (runs_apart_unchanged(st)) continue;
    if (lone >= 0 || !is_schema_changing(st.klass)) return -1;
    lone = static_cast<int>(i);
  }
  return lone;
}

}  // namespace schemagate::policy
