#include "policy/planner.h"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <set>

#include "policy/classifier.h"
#include "policy/pg_tree.h"
#include "policy/quote.h"
#include "policy/sql_parser.h"

namespace schemagate::policy {

using tree::cstr;

namespace {

// Every plan is built from shallow copies of the (cached, shared, const) parse tree with one field
// changed, deparsed by libpg_query, or from quote_* helpers. No user text is ever concatenated raw.

Phase make_phase(std::string description, std::string sql, bool outside_tx, const PlanContext& ctx) {
  Phase p;
  p.description = std::move(description);
  p.sql = std::move(sql);
  p.outside_transaction = outside_tx;
  if (ctx.thresholds) {
    p.lock_timeout_ms = ctx.thresholds->lock_timeout_ms;
    p.retry.max_attempts = ctx.thresholds->retry_attempts;
    p.retry.backoff_ms = ctx.thresholds->retry_backoff_ms;
  }
  return p;
}

std::string qualified(const PgQuery__RangeVar* rv) { return quote_qualified(cstr(rv->schemaname), cstr(rv->relname)); }

// PostgreSQL's default name: table_col1_col2_suffix, cut to 63 bytes (NAMEDATALEN - 1).
std::string default_name(std::string_view table, const std::vector<std::string>& cols, std::string_view suffix) {
  std::string name(table);
  for (const auto& c : cols) name += "_" + (c.empty() ? std::string("expr") : c);
  const std::size_t room = 63 - suffix.size() - 1;
  if (name.size() > room) name.resize(room);
  return name + "_" + std::string(suffix);
}

bool only_rules(const std::vector<Finding>& rewrite, std::initializer_list<std::string_view> handled) {
  return std::all_of(rewrite.begin(), rewrite.end(), [&](const Finding& f) {
    return std::find(handled.begin(), handled.end(), f.rule_id) != handled.end();
  });
}

// libpg_query 15-4.0.0's deparser prints index and constraint names without quoting them, so a
// name like "Idx" or "select" (or a hostile one) would come out wrong. Generated statements carry a
// placeholder name instead, replaced here by the properly quoted one.
constexpr std::string_view kPlaceholder = "sg_name_placeholder_4f1d";

std::optional<std::string> substitute_name(std::optional<std::string> sql, std::string_view real) {
  if (!sql) return std::nullopt;
  const auto first = sql->find(kPlaceholder);
  if (first == std::string::npos || sql->find(kPlaceholder, first + 1) != std::string::npos) return std::nullopt;
  sql->replace(first, kPlaceholder.size(), quote_ident(real));
  return sql;
}

// Last line of defence: generated SQL must parse back to exactly one statement of the same kind.
std::optional<std::string> verified(std::optional<std::string> sql, PgQuery__Node__NodeCase expected) {
  if (!sql) return std::nullopt;
  SyntaxError err;
  auto batch = ParsedBatch::parse(*sql, &err);
  if (!batch || batch->tree()->n_stmts != 1 || !batch->tree()->stmts[0]->stmt ||
      batch->tree()->stmts[0]->stmt->node_case != expected)
    return std::nullopt;
  return sql;
}

std::optional<std::string> deparse_alter(const PgQuery__Node* stmt, const PgQuery__AlterTableStmt& copy) {
  PgQuery__Node n = *stmt;
  PgQuery__AlterTableStmt a = copy;
  n.alter_table_stmt = &a;
  return deparse_statement(&n);
}

std::optional<Plan> plan_index(const Statement& s, const PlanContext& ctx, std::string& why_not) {
  const auto* orig = s.node->index_stmt;
  if (ctx.facts && orig->relation &&
      ctx.facts->is_partitioned(tree::qname(orig->relation)).value_or(false)) {
    why_not = "CREATE INDEX CONCURRENTLY does not work on a partitioned table: create it ON ONLY the parent, "
              "concurrently on each partition, then ALTER INDEX … ATTACH PARTITION";
    return std::nullopt;
  }
  PgQuery__IndexStmt copy = *orig;
  copy.concurrent = 1;
  std::vector<std::string> cols;
  for (std::size_t i = 0; i < orig->n_index_params; ++i) {
    const auto* p = orig->index_params[i];
    cols.push_back(p && p->node_case == PG_QUERY__NODE__NODE_INDEX_ELEM ? std::string(cstr(p->index_elem->name)) : "");
  }
  // Name it ourselves when the user did not, so a failed build can be cleaned up by name.
  std::string name = !cstr(orig->idxname).empty() ? std::string(orig->idxname) : default_name(cstr(orig->relation->relname), cols, "idx");
  std::string placeholder(kPlaceholder);
  copy.idxname = placeholder.data();
  PgQuery__Node n = *s.node;
  n.index_stmt = &copy;
  auto sql = verified(substitute_name(deparse_statement(&n), name), PG_QUERY__NODE__NODE_INDEX_STMT);
  if (!sql) {
    why_not = "could not regenerate the statement";
    return std::nullopt;
  }
  Plan plan;
  plan.summary = "build the index without blocking writes";
  Phase p = make_phase("build index " + name + " concurrently", *sql, true, ctx);
  p.on_failure_sql = "DROP INDEX CONCURRENTLY IF EXISTS " + quote_qualified(cstr(orig->relation->schemaname), name);
  plan.phases.push_back(std::move(p));
  return plan;
}

std::optional<Plan> plan_drop_index(const Statement& s, const PlanContext& ctx, std::string& why_not) {
  const auto* orig = s.node->drop_stmt;
  if (orig->n_objects != 1 || orig->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE) {
    why_not = "DROP INDEX CONCURRENTLY takes exactly one index and no CASCADE";
    return std::nullopt;
  }
  PgQuery__DropStmt copy = *orig;
  copy.concurrent = 1;
  PgQuery__Node n = *s.node;
  n.drop_stmt = &copy;
  auto sql = verified(deparse_statement(&n), PG_QUERY__NODE__NODE_DROP_STMT);
  if (!sql) {
    why_not = "could not regenerate the statement";
    return std::nullopt;
  }
  Plan plan;
  plan.summary = "drop the index without blocking reads and writes";
  plan.phases.push_back(make_phase("drop index concurrently", *sql, true, ctx));
  return plan;
}

std::optional<Plan> plan_reindex(const Statement& s, const PlanContext& ctx, std::string& why_not) {
  if (ctx.server_version_num < 120000) {
    why_not = "REINDEX CONCURRENTLY needs PostgreSQL 12";
    return std::nullopt;
  }
  const auto* orig = s.node->reindex_stmt;
  if (orig->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_SYSTEM) {
    why_not = "system catalogs cannot be reindexed concurrently";
    return std::nullopt;
  }
  PgQuery__DefElem conc = PG_QUERY__DEF_ELEM__INIT;
  std::string conc_name = "concurrently";
  conc.defname = conc_name.data();
  PgQuery__Node conc_node = PG_QUERY__NODE__INIT;
  conc_node.node_case = PG_QUERY__NODE__NODE_DEF_ELEM;
  conc_node.def_elem = &conc;
  std::vector<PgQuery__Node*> params(orig->params, orig->params + orig->n_params);
  params.push_back(&conc_node);
  PgQuery__ReindexStmt copy = *orig;
  copy.n_params = params.size();
  copy.params = params.data();
  PgQuery__Node n = *s.node;
  n.reindex_stmt = &copy;
  auto sql = verified(deparse_statement(&n), PG_QUERY__NODE__NODE_REINDEX_STMT);
  if (!sql) {
    why_not = "could not regenerate the statement";
    return std::nullopt;
  }
  Plan plan;
  plan.summary = "rebuild without blocking writes";
  plan.phases.push_back(make_phase("reindex concurrently", *sql, true, ctx));
  return plan;
}

std::optional<Plan> plan_refresh(const Statement& s, const PlanContext& ctx, std::string& why_not) {
  const auto* orig = s.node->refresh_mat_view_stmt;
  if (orig->skip_data) {
    why_not = "REFRESH … CONCURRENTLY cannot be combined with WITH NO DATA";
    return std::nullopt;
  }
  PgQuery__RefreshMatViewStmt copy = *orig;
  copy.concurrent = 1;
  PgQuery__Node n = *s.node;
  n.refresh_mat_view_stmt = &copy;
  auto sql = verified(deparse_statement(&n), PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT);
  if (!sql) {
    why_not = "could not regenerate the statement";
    return std::nullopt;
  }
  Plan plan;
  plan.summary = "refresh without blocking readers (needs a unique index on the view)";
  plan.phases.push_back(make_phase("refresh concurrently", *sql, true, ctx));
  return plan;
}

std::optional<Plan> plan_not_valid(const Statement& s, const PgQuery__AlterTableCmd* cmd, const PlanContext& ctx,
                                   std::string& why_not) {
  const auto* a = s.node->alter_table_stmt;
  const auto* con = cmd->def->constraint;
  const std::string table = qualified(a->relation);
  std::string name(cstr(con->conname));
  if (name.empty()) {
    if (con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN)
      name = default_name(cstr(a->relation->relname), tree::names(con->fk_attrs, con->n_fk_attrs), "fkey");
    else
      name = default_name(cstr(a->relation->relname), {}, "check");
  }
  PgQuery__Constraint c = *con;
  c.skip_validation = 1;
  c.initially_valid = 0;
  std::string placeholder(kPlaceholder);
  c.conname = placeholder.data();
  PgQuery__Node def = *cmd->def;
  def.constraint = &c;
  PgQuery__AlterTableCmd cc = *cmd;
  cc.def = &def;
  PgQuery__Node cmd_node = *a->cmds[0];
  cmd_node.alter_table_cmd = &cc;
  PgQuery__Node* cmds[1] = {&cmd_node};
  PgQuery__AlterTableStmt at = *a;
  at.n_cmds = 1;
  at.cmds = cmds;
  auto add = verified(substitute_name(deparse_alter(s.node, at), name), PG_QUERY__NODE__NODE_ALTER_TABLE_STMT);
  if (!add) {
    why_not = "could not regenerate the statement";
    return std::nullopt;
  }
  Plan plan;
  plan.summary = "add the constraint without checking existing rows, then validate under a weaker lock";
  plan.phases.push_back(make_phase("add constraint " + name + " NOT VALID (brief lock, no scan)", *add, false, ctx));
  // VALIDATE must commit separately from the ADD, or the ADD's lock is held for the whole scan.
  Phase v = make_phase("validate constraint " + name + " (SHARE UPDATE EXCLUSIVE, reads and writes continue)",
                       "ALTER TABLE " + table + " VALIDATE CONSTRAINT " + quote_ident(name), true, ctx);
  v.retry.max_attempts = 1;  // a failed validation is a data problem, not a lock problem
  v.on_failure_sql = "ALTER TABLE " + table + " DROP CONSTRAINT IF EXISTS " + quote_ident(name);
  plan.phases.push_back(std::move(v));
  return plan;
}

std::optional<Plan> plan_unique(const Statement& s, const PgQuery__AlterTableCmd* cmd, const PlanContext& ctx,
                                std::string& why_not) {
  const auto* a = s.node->alter_table_stmt;
  const auto* con = cmd->def->constraint;
  if (con->n_including > 0 || con->where_clause || con->n_options > 0 || !cstr(con->indexspace).empty()) {
    why_not = "INCLUDE, WHERE, WITH or USING INDEX TABLESPACE clauses are not supported by the rewrite";
    return std::nullopt;
  }
  const bool pk = con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY;
  const auto cols = tree::names(con->keys, con->n_keys);
  if (cols.empty()) {
    why_not = "no key columns";
    return std::nullopt;
  }
  std::string name =
      !cstr(con->conname).empty() ? std::string(con->conname) : default_name(cstr(a->relation->relname), pk ? std::vector<std::string>{} : cols, pk ? "pkey" : "key");
  const std::string table = qualified(a->relation);
  std::string col_list;
  for (const auto& c : cols) {
    if (!col_list.empty()) col_list += ", ";
    col_list += quote_ident(c);
  }
  const std::string index = quote_qualified(cstr(a->relation->schemaname), name);
  Plan plan;
  plan.summary = "build the unique index concurrently, then attach it as the constraint";
  Phase build = make_phase("build unique index " + name + " concurrently",
                           "CREATE UNIQUE INDEX CONCURRENTLY " + quote_ident(name) + " ON " + table + " (" + col_list +
                               ")" + (con->nulls_not_distinct ? " NULLS NOT DISTINCT" : ""),
                           true, ctx);
  build.on_failure_sql = "DROP INDEX CONCURRENTLY IF EXISTS " + index;
  plan.phases.push_back(std::move(build));
  std::string attach = "ALTER TABLE " + table + " ADD CONSTRAINT " + quote_ident(name) + (pk ? " PRIMARY KEY" : " UNIQUE") +
                       " USING INDEX " + quote_ident(name);
  if (con->deferrable) attach += con->initdeferred ? " DEFERRABLE INITIALLY DEFERRED" : " DEFERRABLE";
  plan.phases.push_back(make_phase(pk ? "attach the index as the primary key (brief lock; columns must already be NOT NULL)"
                                      : "attach the index as the unique constraint (brief lock)",
                                   attach, false, ctx));
  return plan;
}

void not_null_phases(Plan& plan, const std::string& table, std::string_view relname, const std::string& column,
                     const PlanContext& ctx) {
  const std::string check = default_name(relname, {column}, "not_null");
  const std::string qc = quote_ident(check);
  plan.phases.push_back(make_phase("add CHECK (" + column + " IS NOT NULL) NOT VALID",
                                   "ALTER TABLE " + table + " ADD CONSTRAINT " + qc + " CHECK (" + quote_ident(column) +
                                       " IS NOT NULL) NOT VALID",
                                   false, ctx));
  Phase v = make_phase("validate the check (reads and writes continue)",
                       "ALTER TABLE " + table + " VALIDATE CONSTRAINT " + qc, true, ctx);
  v.on_failure_sql = "ALTER TABLE " + table + " DROP CONSTRAINT IF EXISTS " + qc;
  plan.phases.push_back(std::move(v));
  plan.phases.push_back(make_phase("SET NOT NULL (uses the validated check, no scan)",
                                   "ALTER TABLE " + table + " ALTER COLUMN " + quote_ident(column) + " SET NOT NULL",
                                   false, ctx));
  plan.phases.push_back(
      make_phase("drop the helper check", "ALTER TABLE " + table + " DROP CONSTRAINT " + qc, false, ctx));
}

std::optional<Plan> plan_set_not_null(const Statement& s, const PgQuery__AlterTableCmd* cmd, const PlanContext& ctx,
                                      std::string& why_not) {
  if (ctx.server_version_num < 120000) {
    why_not = "SET NOT NULL only uses a validated CHECK constraint from PostgreSQL 12 on";
    return std::nullopt;
  }
  const auto* a = s.node->alter_table_stmt;
  Plan plan;
  plan.summary = "prove NOT NULL with a validated CHECK first, so SET NOT NULL does not scan";
  not_null_phases(plan, qualified(a->relation), cstr(a->relation->relname), std::string(cstr(cmd->name)), ctx);
  return plan;
}

std::optional<Plan> plan_add_column(const Statement& s, const PgQuery__AlterTableCmd* cmd, const PlanContext& ctx,
                                    std::string& why_not) {
  const auto* a = s.node->alter_table_stmt;
  const auto* def = cmd->def->column_def;
  const auto cf = column_facts(def, nullptr);
  if (cf.serial || cf.identity || cf.stored_generated || cf.primary_key || cf.unique || cf.references) {
    why_not = "only plain columns with a default and NOT NULL can be rewritten";
    return std::nullopt;
  }
  if (!cf.default_expr) {
    why_not = "no default expression";
    return std::nullopt;
  }
  if (cf.not_null && ctx.server_version_num < 120000) {
    why_not = "NOT NULL without a scan needs PostgreSQL 12";
    return std::nullopt;
  }
  // The column without its default and NOT NULL: everything else (type, collation) stays.
  std::vector<PgQuery__Node*> kept;
  for (std::size_t i = 0; i < def->n_constraints; ++i) {
    const auto* c = def->constraints[i];
    if (c && c->node_case == PG_QUERY__NODE__NODE_CONSTRAINT &&
        (c->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT ||
         c->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL ||
         c->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_NULL))
      continue;
    kept.push_back(def->constraints[i]);
  }
  PgQuery__ColumnDef cd = *def;
  cd.n_constraints = kept.size();
  cd.constraints = kept.data();
  cd.raw_default = nullptr;
  cd.is_not_null = 0;
  PgQuery__Node cd_node = *cmd->def;
  cd_node.column_def = &cd;
  PgQuery__AlterTableCmd cc = *cmd;
  cc.def = &cd_node;
  PgQuery__Node cmd_node = *a->cmds[0];
  cmd_node.alter_table_cmd = &cc;
  PgQuery__Node* cmds[1] = {&cmd_node};
  PgQuery__AlterTableStmt at = *a;
  at.n_cmds = 1;
  at.cmds = cmds;
  auto add = verified(deparse_alter(s.node, at), PG_QUERY__NODE__NODE_ALTER_TABLE_STMT);
  auto expr = deparse_expression(cf.default_expr);
  if (!add || !expr) {
    why_not = "could not regenerate the statement";
    return std::nullopt;
  }
  const std::string table = qualified(a->relation);
  const std::string col = quote_ident(cf.name);
  const std::uint32_t batch = ctx.thresholds ? ctx.thresholds->backfill_batch_rows : 10000;
  Plan plan;
  plan.summary = "add the column without rewriting the table, then backfill in batches";
  plan.phases.push_back(make_phase("add column " + cf.name + " as nullable, without a default", *add, false, ctx));
  auto set_default = verified("ALTER TABLE " + table + " ALTER COLUMN " + col + " SET DEFAULT " + *expr,
                              PG_QUERY__NODE__NODE_ALTER_TABLE_STMT);
  if (!set_default) {
    why_not = "could not regenerate the default expression";
    return std::nullopt;
  }
  plan.phases.push_back(make_phase("set the default for new rows", *set_default, false, ctx));
  Phase fill = make_phase("backfill existing rows in batches of " + std::to_string(batch),
                          "UPDATE " + table + " SET " + col + " = DEFAULT WHERE ctid = ANY (ARRAY(SELECT ctid FROM " +
                              table + " WHERE " + col + " IS NULL LIMIT " + std::to_string(batch) + "))",
                          true, ctx);
  fill.repeat_until_no_rows = true;
  plan.phases.push_back(std::move(fill));
  if (cf.not_null) not_null_phases(plan, table, cstr(a->relation->relname), cf.name, ctx);
  return plan;
}

}  // namespace

std::optional<Plan> DefaultPlanner::plan(const Statement& s, const std::vector<Finding>& rewrite,
                                         const PlanContext& ctx, std::string& why_not) const {
  if (!s.node || rewrite.empty()) {
    why_not = "nothing to rewrite";
    return std::nullopt;
  }
  std::optional<Plan> plan;
  switch (s.node->node_case) {
    case PG_QUERY__NODE__NODE_INDEX_STMT:
      if (only_rules(rewrite, {"require_concurrent_index"})) plan = plan_index(s, ctx, why_not);
      break;
    case PG_QUERY__NODE__NODE_DROP_STMT:
      if (only_rules(rewrite, {"require_concurrent_drop_index"})) plan = plan_drop_index(s, ctx, why_not);
      break;
    case PG_QUERY__NODE__NODE_REINDEX_STMT:
      if (only_rules(rewrite, {"require_concurrent_reindex"})) plan = plan_reindex(s, ctx, why_not);
      break;
    case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT:
      if (only_rules(rewrite, {"refresh_matview_non_concurrent"})) plan = plan_refresh(s, ctx, why_not);
      break;
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT: {
      const auto* a = s.node->alter_table_stmt;
      if (a->n_cmds != 1 || !a->cmds[0] || a->cmds[0]->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD ||
          !a->relation) {
        why_not = "split the ALTER TABLE into one statement per action so each can be planned";
        return std::nullopt;
      }
      const auto* cmd = a->cmds[0]->alter_table_cmd;
      const bool add_constraint = cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint ||
                                  cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse;
      if (add_constraint && cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT) {
        const auto t = cmd->def->constraint->contype;
        if ((t == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN || t == PG_QUERY__CONSTR_TYPE__CONSTR_CHECK) &&
            only_rules(rewrite, {"add_foreign_key", "add_check_constraint"}))
          plan = plan_not_valid(s, cmd, ctx, why_not);
        else if ((t == PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE || t == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY) &&
                 only_rules(rewrite, {"add_unique_constraint", "add_primary_key"}))
          plan = plan_unique(s, cmd, ctx, why_not);
      } else if (cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull && only_rules(rewrite, {"set_not_null"})) {
        plan = plan_set_not_null(s, cmd, ctx, why_not);
      } else if ((cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn ||
                  cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnRecurse) &&
                 cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF &&
                 only_rules(rewrite, {"add_column_volatile_default"})) {
        plan = plan_add_column(s, cmd, ctx, why_not);
      }
      break;
    }
    default: break;
  }
  if (!plan) {
    if (why_not.empty()) why_not = "no rewrite is known for this combination of rules";
    return std::nullopt;
  }
  plan->rule_id = rewrite.front().rule_id;
  return plan;
}

}  // namespace schemagate::policy
