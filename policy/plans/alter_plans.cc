// ALTER TABLE plans: each action on its own, in statement order, through its safe form when a
// rule asked for one and unchanged (one guarded phase) otherwise.
#include "policy/classifier.h"
#include "policy/pg_tree.h"
#include "policy/plans/builder.h"
#include "policy/quote.h"
#include "policy/rules.h"
#include "policy/sql_parser.h"

namespace schemagate::policy::plans {

using tree::cstr;

namespace {

bool is_constraint(const PgQuery__Node* n, PgQuery__ConstrType t) {
  return n && n->node_case == PG_QUERY__NODE__NODE_CONSTRAINT && n->constraint->contype == t;
}

// An action the rules did not flag: run it as it is, in its own short guarded transaction.
bool plain_action(Builder& b, const PgQuery__AlterTableStmt& a, const PgQuery__Node* cmd) {
  auto sql = verified(deparse_one_action(b.s.node, a, cmd), PG_QUERY__NODE__NODE_ALTER_TABLE_STMT);
  PgQuery__Node n = *b.s.node;
  PgQuery__AlterTableStmt one = a;
  PgQuery__Node* cmds[1] = {const_cast<PgQuery__Node*>(cmd)};  // only read
  one.n_cmds = 1;
  one.cmds = cmds;
  n.alter_table_stmt = &one;
  if (!sql || !same_statement(*sql, &n)) return b.fail("could not regenerate an action of the ALTER TABLE exactly");
  b.add(b.phase(PhaseKind::guarded, "run this action unchanged (brief lock)", *sql, qualified(a.relation)));
  return true;
}

// ADD COLUMN with a volatile default and/or inline CHECK, UNIQUE, PRIMARY KEY or REFERENCES:
// add the bare column, fill it, then each constraint through its safe path.
bool add_column(Builder& b, const PgQuery__AlterTableStmt& a, const PgQuery__Node* cmd_node) {
  const auto* cmd = cmd_node->alter_table_cmd;
  const auto* def = cmd->def->column_def;
  const auto cf = column_facts(def, b.ctx.facts);
  if (cf.serial || cf.identity || cf.stored_generated)
    return b.fail("serial, identity and stored generated columns fill every row: no safe rewrite");
  const bool fill = cf.has_default && cf.default_volatile;
  bool pk = false, explicit_not_null = false;
  std::vector<const PgQuery__Constraint*> checks, fks, uniques;
  std::vector<PgQuery__Node*> kept;
  for (std::size_t i = 0; i < def->n_constraints; ++i) {
    PgQuery__Node* c = def->constraints[i];
    if (!c || c->node_case != PG_QUERY__NODE__NODE_CONSTRAINT) {
      kept.push_back(c);
      continue;
    }
    switch (c->constraint->contype) {
      case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK: checks.push_back(c->constraint); continue;
      case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN: fks.push_back(c->constraint); continue;
      case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY: pk = true; [[fallthrough]];
      case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE: uniques.push_back(c->constraint); continue;
      case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL:
        explicit_not_null = true;
        [[fallthrough]];
      case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT:
      case PG_QUERY__CONSTR_TYPE__CONSTR_NULL:
        if (fill) continue;  // the default comes after the column, NOT NULL after the backfill
        kept.push_back(c);
        continue;
      default: kept.push_back(c); continue;
    }
  }
  if (pk && !cf.has_default) return b.fail("a new PRIMARY KEY column needs a default to fill the existing rows");
  // A primary key implies NOT NULL; with a constant default the add itself sets it without a scan.
  PgQuery__Constraint nn = PG_QUERY__CONSTRAINT__INIT;
  nn.contype = PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL;
  PgQuery__Node nn_node = PG_QUERY__NODE__INIT;
  nn_node.node_case = PG_QUERY__NODE__NODE_CONSTRAINT;
  nn_node.constraint = &nn;
  if (pk && !fill && !explicit_not_null) kept.push_back(&nn_node);
  PgQuery__ColumnDef cd = *def;
  cd.n_constraints = kept.size();
  cd.constraints = kept.data();
  if (fill) {
    cd.raw_default = nullptr;
    cd.is_not_null = 0;
  }
  PgQuery__Node cd_node = *cmd->def;
  cd_node.column_def = &cd;
  PgQuery__AlterTableCmd cc = *cmd;
  cc.def = &cd_node;
  PgQuery__Node one = *cmd_node;
  one.alter_table_cmd = &cc;
  auto add = verified(deparse_one_action(b.s.node, a, &one), PG_QUERY__NODE__NODE_ALTER_TABLE_STMT);
  if (!add) return b.fail("could not regenerate the ADD COLUMN");
  const std::string table = qualified(a.relation);
  const std::string col = quote_ident(cf.name);
  b.add(b.phase(PhaseKind::guarded,
                "add column " + cf.name + (fill ? " as nullable, without a default" : " without its constraints"), *add,
                table));
  if (fill) {
    auto expr = deparse_expression(cf.default_expr);
    auto set_default = expr ? verified(alter_prefix(a) + " ALTER COLUMN " + col + " SET DEFAULT " + *expr,
                                       PG_QUERY__NODE__NODE_ALTER_TABLE_STMT)
                            : std::nullopt;
    if (!set_default) return b.fail("could not regenerate the default expression");
    b.add(b.phase(PhaseKind::guarded, "set the default for new rows", *set_default, table));
    const config::PolicyThresholds defaults;
    const auto& th = b.ctx.thresholds ? *b.ctx.thresholds : defaults;
    Phase p = b.phase(PhaseKind::backfill,
                      "backfill existing rows in batches of " + std::to_string(th.backfill_batch_rows), "", table);
    p.backfill = Backfill{table, col, "DEFAULT", th.backfill_batch_rows, th.backfill_pause_ms,
                          th.backfill_max_replica_lag_bytes};
    b.add(std::move(p));
    if (cf.not_null && !add_not_null(b, a, {cf.name}, false)) return false;
  }
  b.new_columns.insert(cf.name);
  const std::string relname(cstr(a.relation->relname));
  const std::vector<std::string> cols{cf.name};
  std::string colname = cf.name;
  for (const auto* c : checks) {
    if (!add_not_valid(b, a, *c, constraint_name(b, *c, relname, cols))) return false;
    b.handled.insert("add_check_constraint");
  }
  for (const auto* c : fks) {
    PgQuery__Constraint fk = *c;
    PgQuery__String s_holder;
    PgQuery__Node attr = string_node(s_holder, colname);
    PgQuery__Node* attrs[1] = {&attr};
    if (fk.n_fk_attrs == 0) {
      fk.n_fk_attrs = 1;
      fk.fk_attrs = attrs;
    }
    if (!add_not_valid(b, a, fk, constraint_name(b, fk, relname, cols))) return false;
    b.handled.insert("add_foreign_key");
  }
  for (const auto* c : uniques) {
    const bool is_pk = c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY;
    // Before the column exists nothing can be checked, except that one constant default given
    // to several rows is already a duplicate.
    const auto check = !fill && cf.has_default ? UniquePrecheck::one_row : UniquePrecheck::none;
    if (!add_unique(b, a, *c, cols, constraint_name(b, *c, relname, cols), check, true)) return false;
    b.handled.insert(is_pk ? "add_primary_key" : "add_unique_constraint");
  }
  if (fill) b.handled.insert("add_column_volatile_default");
  return true;
}

bool detach_partition(Builder& b, const PgQuery__AlterTableStmt& a, const PgQuery__Node* cmd_node) {
  if (b.ctx.server_version_num < 140000) return b.fail("DETACH PARTITION CONCURRENTLY needs PostgreSQL 14");
  const std::string table = qualified(a.relation);
  if (b.ctx.facts)
    for (const auto& p : b.ctx.facts->partitions(tree::qname(a.relation)))
      if (p.is_default && p.parent.name == cstr(a.relation->relname))
        return b.fail(table + " has a DEFAULT partition (" + p.table.display() + "), which DETACH … CONCURRENTLY does not allow");
  PgQuery__PartitionCmd pc = *cmd_node->alter_table_cmd->def->partition_cmd;
  pc.concurrent = 1;
  PgQuery__Node def = *cmd_node->alter_table_cmd->def;
  def.partition_cmd = &pc;
  PgQuery__AlterTableCmd cc = *cmd_node->alter_table_cmd;
  cc.def = &def;
  PgQuery__Node one = *cmd_node;
  one.alter_table_cmd = &cc;
  auto sql = verified(deparse_one_action(b.s.node, a, &one), PG_QUERY__NODE__NODE_ALTER_TABLE_STMT);
  if (!sql) return b.fail("could not regenerate the DETACH PARTITION");
  // An interrupted detach leaves the partition "detach pending"; ALTER TABLE … DETACH PARTITION
  // … FINALIZE completes it. Not a cleanup: it waits for the same lockers again.
  b.add(b.phase(PhaseKind::autocommit,
                "detach partition concurrently (if interrupted: ALTER TABLE … DETACH PARTITION … FINALIZE)", *sql, table));
  b.handled.insert("require_concurrent_detach_partition");
  return true;
}

}  // namespace

bool plan_alter_table(Builder& b, const std::set<std::string>& rules) {
  const auto* a = b.s.node->alter_table_stmt;
  if (!a->relation) return b.fail("no table");
  b.taken = taken_names(b.ctx.facts, a->relation);
  const std::string relname(cstr(a->relation->relname));
  const auto q = tree::qname(a->relation);
  for (std::size_t i = 0; i < a->n_cmds; ++i) {
    const PgQuery__Node* node = a->cmds[i];
    if (!node || node->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD) return b.fail("unexpected ALTER TABLE action");
    const auto* cmd = node->alter_table_cmd;
    bool ok = true, planned = false;
    switch (cmd->subtype) {
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse: {
        if (!cmd->def || cmd->def->node_case != PG_QUERY__NODE__NODE_CONSTRAINT) break;
        const auto& con = *cmd->def->constraint;
        const auto t = con.contype;
        const bool fk = t == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN, check = t == PG_QUERY__CONSTR_TYPE__CONSTR_CHECK;
        const bool pk = t == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY, unique = t == PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE;
        const char* rule = fk ? "add_foreign_key" : check ? "add_check_constraint" : pk ? "add_primary_key" : "add_unique_constraint";
        if ((fk || check) && !con.skip_validation && rules.count(rule)) {
          ok = add_not_valid(b, *a, con, constraint_name(b, con, relname, {}));
          planned = true;
        } else if ((pk || unique) && cstr(con.indexname).empty() && rules.count(rule)) {
          const auto cols = tree::names(con.keys, con.n_keys);
          bool fresh = false;
          for (const auto& c : cols) fresh = fresh || b.new_columns.count(c);
          ok = add_unique(b, *a, con, cols, constraint_name(b, con, relname, {}),
                          fresh ? UniquePrecheck::none : UniquePrecheck::keys, false);
          planned = true;
        }
        if (planned) b.handled.insert(rule);
        break;
      }
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull: {
        auto needs_check = [&](const PgQuery__Node* n) {
          return n && n->node_case == PG_QUERY__NODE__NODE_ALTER_TABLE_CMD &&
                 n->alter_table_cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull &&
                 !proves_not_null(b.ctx.facts, q, cstr(n->alter_table_cmd->name), b.ctx.server_version_num);
        };
        if (!rules.count("set_not_null") || !needs_check(node)) break;
        // Consecutive SET NOT NULLs share one helper check, so the table is scanned once.
        std::vector<std::string> cols{std::string(cstr(cmd->name))};
        while (i + 1 < a->n_cmds && needs_check(a->cmds[i + 1])) cols.emplace_back(cstr(a->cmds[++i]->alter_table_cmd->name));
        ok = add_not_null(b, *a, cols, true);
        planned = true;
        b.handled.insert("set_not_null");
        break;
      }
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnRecurse: {
        if (!cmd->def || cmd->def->node_case != PG_QUERY__NODE__NODE_COLUMN_DEF) break;
        const auto* def = cmd->def->column_def;
        const auto cf = column_facts(def, b.ctx.facts);
        bool inline_check = false;
        for (std::size_t k = 0; k < def->n_constraints; ++k)
          inline_check = inline_check || is_constraint(def->constraints[k], PG_QUERY__CONSTR_TYPE__CONSTR_CHECK);
        const bool wanted = (cf.has_default && cf.default_volatile && rules.count("add_column_volatile_default")) ||
                            (cf.unique && rules.count("add_unique_constraint")) ||
                            (cf.primary_key && rules.count("add_primary_key")) ||
                            (cf.references && rules.count("add_foreign_key")) ||
                            (inline_check && rules.count("add_check_constraint"));
        if (wanted) {
          ok = add_column(b, *a, node);
          planned = true;
        } else {
          b.new_columns.insert(cf.name);
        }
        break;
      }
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartition:
        if (cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_PARTITION_CMD && !cmd->def->partition_cmd->concurrent &&
            rules.count("require_concurrent_detach_partition")) {
          ok = detach_partition(b, *a, node);
          planned = true;
        }
        break;
      default: break;
    }
    if (!ok) return false;
    if (!planned && !plain_action(b, *a, node)) return false;
  }
  for (const auto& r : rules)
    if (!b.handled.count(r)) return b.fail("no rewrite is known for rule " + r + " in this ALTER TABLE");
  b.summary = a->n_cmds == 1 ? "the same change through steps that never hold a strong lock for long"
                             : "one step (or safe sequence) per action, in order; each commits on its own";
  return true;
}

}  // namespace schemagate::policy::plans
