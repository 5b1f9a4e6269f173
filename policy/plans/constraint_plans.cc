// The safe paths for constraints: NOT VALID + VALIDATE, unique index + USING INDEX, and NOT NULL
// through a validated helper CHECK. Used by single- and multi-action ALTER TABLE plans.
#include "policy/pg_tree.h"
#include "policy/plans/builder.h"
#include "policy/quote.h"
#include "policy/sql_parser.h"

namespace schemagate::policy::plans {

using tree::cstr;

std::string constraint_name(Builder& b, const PgQuery__Constraint& con, std::string_view table,
                            const std::vector<std::string>& columns) {
  if (!cstr(con.conname).empty()) {
    b.taken.constraints.insert(con.conname);
    return std::string(con.conname);
  }
  switch (con.contype) {
    case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN: {
      auto attrs = tree::names(con.fk_attrs, con.n_fk_attrs);
      return choose_name(table, name_addition(attrs.empty() ? columns : attrs), "fkey", false, true, b.taken);
    }
    case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK: {
      // heap.c names a CHECK table_col_check when its expression uses exactly one column.
      const auto vars = referenced_columns(con.raw_expr);
      return choose_name(table, vars.size() == 1 ? vars[0] : std::string(), "check", false, true, b.taken);
    }
    case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY: return choose_name(table, "", "pkey", true, true, b.taken);
    default: {
      auto keys = tree::names(con.keys, con.n_keys);
      return choose_name(table, name_addition(keys.empty() ? columns : keys), "key", true, true, b.taken);
    }
  }
}

bool add_not_valid(Builder& b, const PgQuery__AlterTableStmt& a, const PgQuery__Constraint& con, const std::string& name) {
  const bool fk = con.contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN;
  const std::string table = qualified(a.relation);
  if (fk && b.ctx.facts && b.ctx.facts->is_partitioned(tree::qname(a.relation)).value_or(false))
    return b.fail("PostgreSQL 15 cannot add a NOT VALID foreign key to partitioned table " + table +
                  ": add it to each partition NOT VALID, validate, then to the parent");
  PgQuery__Constraint c = con;
  c.skip_validation = 1;
  c.initially_valid = 0;
  std::string placeholder(kPlaceholder);
  c.conname = placeholder.data();
  PgQuery__Node def = PG_QUERY__NODE__INIT;
  def.node_case = PG_QUERY__NODE__NODE_CONSTRAINT;
  def.constraint = &c;
  PgQuery__AlterTableCmd cmd = PG_QUERY__ALTER_TABLE_CMD__INIT;
  cmd.subtype = PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint;
  cmd.def = &def;
  cmd.behavior = PG_QUERY__DROP_BEHAVIOR__DROP_RESTRICT;
  PgQuery__Node cmd_node = PG_QUERY__NODE__INIT;
  cmd_node.node_case = PG_QUERY__NODE__NODE_ALTER_TABLE_CMD;
  cmd_node.alter_table_cmd = &cmd;
  auto add = verified(substitute_name(deparse_one_action(b.s.node, a, &cmd_node), name),
                      PG_QUERY__NODE__NODE_ALTER_TABLE_STMT);
  if (!add) return b.fail("could not regenerate the constraint " + name);
  const std::string what = fk ? "foreign key " : "check ";
  b.add(b.phase(PhaseKind::guarded, "add " + what + name + " NOT VALID (brief lock, no scan)", *add, table));
  // VALIDATE commits separately from the ADD, or the ADD's strong lock is held for the whole scan.
  Phase v = b.phase(PhaseKind::online,
                    "validate " + what + name + " (SHARE UPDATE EXCLUSIVE: reads and writes continue)",
                    alter_prefix(a) + " VALIDATE CONSTRAINT " + quote_ident(name), table);
  // Rows that violate it: the original statement would have failed and left nothing behind.
  v.cleanup_sql = alter_prefix(a) + " DROP CONSTRAINT IF EXISTS " + quote_ident(name);
  b.add(std::move(v));
  return true;
}

bool add_not_null(Builder& b, const PgQuery__AlterTableStmt& a, const std::vector<std::string>& cols, bool precheck) {
  if (b.ctx.server_version_num < 120000)
    return b.fail("SET NOT NULL only uses a validated CHECK constraint from PostgreSQL 12 on");
  const std::string table = qualified(a.relation);
  bool fresh = false;
  for (const auto& c : cols) fresh = fresh || b.new_columns.count(c);
  if (precheck && !fresh)
    b.add_precheck("check " + table + " for NULLs in " + column_list(cols),
                   "SELECT EXISTS (SELECT FROM " + table + " WHERE " + null_tests(cols, true, " OR ") + ")", table,
                   "schemagate: " + table + " has NULLs in " + column_list(cols) +
                       ", so NOT NULL cannot be set; nothing was changed. Fill them in first.");
  // The helper exists only while the plan runs; its name says so.
  const std::string helper = helper_name(cstr(a.relation->relname), name_addition(cols), "not_null", b.taken);
  const std::string qh = quote_ident(helper);
  const std::string prefix = alter_prefix(a);
  b.add(b.phase(PhaseKind::guarded, "add helper CHECK " + helper + " NOT VALID (brief lock, no scan)",
                prefix + " ADD CONSTRAINT " + qh + " CHECK (" + null_tests(cols, false, " AND ") + ") NOT VALID", table));
  Phase v = b.phase(PhaseKind::online, "validate " + helper + " (reads and writes continue)",
                    prefix + " VALIDATE CONSTRAINT " + qh, table);
  v.cleanup_sql = prefix + " DROP CONSTRAINT IF EXISTS " + qh;
  b.add(std::move(v));
  std::string set;
  for (const auto& c : cols) set += (set.empty() ? " " : ", ") + std::string("ALTER COLUMN ") + quote_ident(c) + " SET NOT NULL";
  b.add(b.phase(PhaseKind::guarded, "SET NOT NULL (the validated check proves it: no scan)", prefix + set, table));
  b.add(b.phase(PhaseKind::guarded, "drop the helper check " + helper, prefix + " DROP CONSTRAINT " + qh, table));
  return true;
}

bool add_unique(Builder& b, const PgQuery__AlterTableStmt& a, const PgQuery__Constraint& con,
                const std::vector<std::string>& cols, const std::string& name, UniquePrecheck check, bool not_null_done) {
  const bool pk = con.contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY;
  const std::string table = qualified(a.relation);
  if (b.ctx.facts && b.ctx.facts->is_partitioned(tree::qname(a.relation)).value_or(false))
    return b.fail("a partitioned table cannot build its unique index CONCURRENTLY nor attach one with USING INDEX");
  if (con.where_clause) return b.fail("a WHERE clause is not supported by the rewrite");
  if (cols.empty()) return b.fail("no key columns");
  if (check == UniquePrecheck::keys) {
    std::string keys;
    for (const auto& c : cols) keys += (keys.empty() ? "" : ", ") + quote_ident(c);
    const std::string dup = "EXISTS (SELECT FROM " + table +
                            (con.nulls_not_distinct || pk ? "" : " WHERE " + null_tests(cols, false, " AND ")) +
                            " GROUP BY " + keys + " HAVING count(*) > 1)";
    b.add_precheck("check " + table + " for duplicate " + column_list(cols) + (pk ? " and NULLs" : ""),
                   pk ? "SELECT EXISTS (SELECT FROM " + table + " WHERE " + null_tests(cols, true, " OR ") + ") OR " + dup
                      : "SELECT " + dup,
                   table,
                   "schemagate: " + table + " has " + (pk ? "NULL or duplicate" : "duplicate") + " values in " +
                       column_list(cols) + ", so " + (pk ? "the primary key " : "the unique constraint ") + name +
                       " cannot be added; nothing was changed. Fix the data first.");
  } else if (check == UniquePrecheck::one_row) {
    b.add_precheck("check that " + table + " has at most one row (every row gets the same default)",
                   "SELECT count(*) > 1 FROM (SELECT FROM " + table + " LIMIT 2) AS sg_rows", table,
                   "schemagate: every existing row of " + table + " would get the same default in " + column_list(cols) +
                       ", so the unique constraint " + name + " cannot hold; nothing was changed.");
  }
  // A primary key needs NOT NULL columns; USING INDEX would otherwise scan for NULLs under ACCESS
  // EXCLUSIVE. Set it first through the helper check, so a stop later leaves no helper behind.
  if (pk && !not_null_done) {
    std::vector<std::string> nullable;
    for (const auto& c : cols)
      if (!(b.ctx.facts && b.ctx.facts->column_not_null(tree::qname(a.relation), c).value_or(false)))
        nullable.push_back(c);
    if (!nullable.empty() && !add_not_null(b, a, nullable, false)) return false;
  }
  // The index is built as a plain IndexStmt, deparsed, so options, INCLUDE and tablespace keep
  // their exact meaning; it gets the constraint's name, so USING INDEX renames nothing.
  std::vector<std::string> colnames(cols);
  std::vector<PgQuery__IndexElem> elems(colnames.size() + con.n_including);
  std::vector<PgQuery__Node> elem_nodes(elems.size());
  std::vector<PgQuery__Node*> params, including;
  std::vector<std::string> inc_names = tree::names(con.including, con.n_including);
  for (std::size_t i = 0; i < elems.size(); ++i) {
    elems[i] = PG_QUERY__INDEX_ELEM__INIT;
    elems[i].ordering = PG_QUERY__SORT_BY_DIR__SORTBY_DEFAULT;
    elems[i].nulls_ordering = PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_DEFAULT;
    elems[i].name = i < colnames.size() ? colnames[i].data() : inc_names[i - colnames.size()].data();
    elem_nodes[i] = PG_QUERY__NODE__INIT;
    elem_nodes[i].node_case = PG_QUERY__NODE__NODE_INDEX_ELEM;
    elem_nodes[i].index_elem = &elems[i];
    (i < colnames.size() ? params : including).push_back(&elem_nodes[i]);
  }
  if (inc_names.size() != con.n_including) return b.fail("could not read the INCLUDE columns");
  PgQuery__RangeVar rv = *a.relation;
  rv.inh = 1;
  PgQuery__IndexStmt is = PG_QUERY__INDEX_STMT__INIT;
  std::string placeholder(kPlaceholder), btree = "btree";
  is.idxname = placeholder.data();
  is.relation = &rv;
  is.access_method = btree.data();
  is.n_index_params = params.size();
  is.index_params = params.data();
  is.n_index_including_params = including.size();
  is.index_including_params = including.data();
  is.n_options = con.n_options;
  is.options = con.options;
  is.table_space = con.indexspace;
  is.unique = 1;
  is.nulls_not_distinct = con.nulls_not_distinct;
  is.concurrent = 1;
  PgQuery__Node n = PG_QUERY__NODE__INIT;
  n.node_case = PG_QUERY__NODE__NODE_INDEX_STMT;
  n.index_stmt = &is;
  auto build_sql = verified(substitute_name(deparse_statement(&n), name), PG_QUERY__NODE__NODE_INDEX_STMT);
  if (!build_sql) return b.fail("could not regenerate the index for " + name);
  Phase build = b.phase(PhaseKind::autocommit, "build unique index " + name + " concurrently", *build_sql, table);
  build.cleanup_sql = "DROP INDEX CONCURRENTLY IF EXISTS " + quote_qualified(cstr(a.relation->schemaname), name);
  b.add(std::move(build));
  std::string attach = alter_prefix(a) + " ADD CONSTRAINT " + quote_ident(name) + (pk ? " PRIMARY KEY" : " UNIQUE") +
                       " USING INDEX " + quote_ident(name);
  if (con.deferrable) attach += con.initdeferred ? " DEFERRABLE INITIALLY DEFERRED" : " DEFERRABLE";
  b.add(b.phase(PhaseKind::guarded,
                std::string("attach the index as the ") + (pk ? "primary key" : "unique constraint") + " (brief lock, no scan)",
                attach, table));
  return true;
}

}  // namespace schemagate::policy::plans
