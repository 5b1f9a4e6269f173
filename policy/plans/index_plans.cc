// CREATE INDEX, DROP INDEX, REINDEX and REFRESH MATERIALIZED VIEW plans.
#include <map>

#include "policy/pg_tree.h"
#include "policy/plans/builder.h"
#include "policy/quote.h"
#include "policy/sql_parser.h"

namespace schemagate::policy::plans {

using tree::cstr;

namespace {

std::optional<std::string> deparse_index(const Builder& b, PgQuery__IndexStmt copy, const std::string& name) {
  std::string placeholder(kPlaceholder);
  copy.idxname = placeholder.data();
  PgQuery__Node n = *b.s.node;
  n.index_stmt = &copy;
  return verified(substitute_name(deparse_statement(&n), name), PG_QUERY__NODE__NODE_INDEX_STMT);
}

// Before a unique index: are there duplicates among the rows the index would cover?
void unique_precheck(Builder& b, const PgQuery__IndexStmt* i, const std::string& table, const std::string& name) {
  std::string keys, conds;
  for (std::size_t k = 0; k < i->n_index_params; ++k) {
    const auto* p = i->index_params[k];
    if (!p || p->node_case != PG_QUERY__NODE__NODE_INDEX_ELEM) return;
    std::string key;
    if (!cstr(p->index_elem->name).empty()) {
      key = quote_ident(p->index_elem->name);
    } else {
      auto e = deparse_expression(p->index_elem->expr);
      if (!e) return;
      key = "(" + *e + ")";
    }
    keys += (keys.empty() ? "" : ", ") + key;
    // NULLs never collide unless NULLS NOT DISTINCT says they do.
    if (!i->nulls_not_distinct) conds += (conds.empty() ? "" : " AND ") + key + " IS NOT NULL";
  }
  if (i->where_clause) {
    auto w = deparse_expression(i->where_clause);
    if (!w) return;
    conds = "(" + *w + ")" + (conds.empty() ? "" : " AND " + conds);
  }
  b.add_precheck("check " + table + " for duplicate keys of " + name,
                 "SELECT EXISTS (SELECT FROM " + std::string(i->relation->inh ? "" : "ONLY ") + table +
                     (conds.empty() ? "" : " WHERE " + conds) + " GROUP BY " + keys + " HAVING count(*) > 1)",
                 table,
                 "schemagate: " + table + " has duplicate values for the unique index " + name +
                     "; nothing was changed. Remove the duplicates, then retry.");
}

// CREATE INDEX on a partitioned table: CONCURRENTLY does not work on the parent. Build each leaf's
// index concurrently (the long part, nothing locked), then create the parent's index ON ONLY and
// attach the children to it; the parent index becomes valid once every partition is attached.
bool plan_partitioned_index(Builder& b, const PgQuery__IndexStmt* orig, const std::string& name) {
  const auto parts = b.ctx.facts->partitions(tree::qname(orig->relation));
  const std::string table = qualified(orig->relation);
  if (parts.empty()) {
    if (!described(b.ctx.facts, orig->relation))
      return b.fail("the partitions of " + table + " are not known: create the index ON ONLY the parent, "
                    "CONCURRENTLY on each partition, then ALTER INDEX … ATTACH PARTITION");
    return plan_guarded(b);  // no partitions: the parent has no storage, the index is instant
  }
  const auto cols = name_addition(index_column_names(orig));
  // Index name per partitioned table (the root included), to attach children to. The
  // partitions name their parents with a schema; an unqualified root is where it resolved.
  std::map<std::pair<std::string, std::string>, std::string> parent_index;
  std::string root_schema(cstr(orig->relation->schemaname));
  if (root_schema.empty())
    if (auto resolved = b.ctx.facts->resolve_schema(cstr(orig->relation->relname))) root_schema = *resolved;
  parent_index[{root_schema, std::string(cstr(orig->relation->relname))}] =
      quote_qualified(cstr(orig->relation->schemaname), name);
  struct Child {
    const PartitionInfo* part;
    std::string name;
  };
  std::vector<Child> children;
  for (const auto& p : parts) {
    if (p.foreign) {
      if (orig->unique) return b.fail("partition " + p.table.display() + " is a foreign table and cannot have a unique index");
      continue;  // PostgreSQL skips foreign partitions for a plain index too
    }
    TakenNames none;  // the partition's own indexes are not in the facts: see docs/policy.md
    children.push_back({&p, choose_name(p.table.name, cols, "idx", true, false, none)});
    if (p.partitioned) parent_index[{p.table.schema, p.table.name}] = quote_qualified(p.table.schema, children.back().name);
  }
  for (const auto& c : children) {
    if (c.part->partitioned) continue;
    PgQuery__RangeVar rv = *orig->relation;
    std::string schema = c.part->table.schema, relname = c.part->table.name;
    rv.schemaname = schema.data();
    rv.relname = relname.data();
    rv.inh = 1;
    PgQuery__IndexStmt copy = *orig;
    copy.relation = &rv;
    copy.concurrent = 1;
    copy.if_not_exists = 0;
    auto sql = deparse_index(b, copy, c.name);
    if (!sql) return b.fail("could not regenerate the statement for partition " + c.part->table.display());
    const std::string ptable = quote_qualified(c.part->table.schema, c.part->table.name);
    Phase p = b.phase(PhaseKind::autocommit, "build index " + c.name + " on partition " + c.part->table.display() + " concurrently",
                      *sql, ptable);
    p.cleanup_sql = "DROP INDEX CONCURRENTLY IF EXISTS " + quote_qualified(c.part->table.schema, c.name);
    b.add(std::move(p));
  }
  auto only = [&](const PgQuery__RangeVar& base, const std::string& schema, const std::string& relname,
                  const std::string& idx) -> std::optional<std::string> {
    PgQuery__RangeVar rv = base;
    std::string s = schema, r = relname;
    rv.schemaname = s.data();
    rv.relname = r.data();
    rv.inh = 0;
    PgQuery__IndexStmt copy = *orig;
    copy.relation = &rv;
    copy.concurrent = 0;
    return deparse_index(b, copy, idx);
  };
  auto root = only(*orig->relation, std::string(cstr(orig->relation->schemaname)), std::string(cstr(orig->relation->relname)), name);
  if (!root) return b.fail("could not regenerate the statement");
  b.add(b.phase(PhaseKind::guarded, "create index " + name + " on " + table + " only (no storage, invalid until attached)",
                *root, table));
  for (const auto& c : children) {
    const std::string ptable = quote_qualified(c.part->table.schema, c.part->table.name);
    if (c.part->partitioned) {
      auto sub = only(*orig->relation, c.part->table.schema, c.part->table.name, c.name);
      if (!sub) return b.fail("could not regenerate the statement for partition " + c.part->table.display());
      b.add(b.phase(PhaseKind::guarded, "create index " + c.name + " on " + c.part->table.display() + " only", *sub, ptable));
    }
    const auto it = parent_index.find({c.part->parent.schema, c.part->parent.name});
    if (it == parent_index.end()) return b.fail("partition " + c.part->table.display() + " has an unknown parent");
    b.add(b.phase(PhaseKind::guarded, "attach index " + c.name + " to " + it->second,
                  "ALTER INDEX " + it->second + " ATTACH PARTITION " + quote_qualified(c.part->table.schema, c.name),
                  ptable));
  }
  return true;
}

}  // namespace

bool plan_create_index(Builder& b) {
  const auto* orig = b.s.node->index_stmt;
  if (!orig->relation) return b.fail("no table");
  b.taken = taken_names(b.ctx.facts, orig->relation);
  // Name it ourselves when the user did not (exactly as PostgreSQL would), so that a failed build
  // can be cleaned up by name.
  const std::string name = !cstr(orig->idxname).empty()
                               ? std::string(orig->idxname)
                               : choose_name(cstr(orig->relation->relname), name_addition(index_column_names(orig)),
                                             "idx", true, false, b.taken);
  const std::string table = qualified(orig->relation);
  if (orig->unique) unique_precheck(b, orig, table, name);
  if (b.ctx.facts && b.ctx.facts->is_partitioned(tree::qname(orig->relation)).value_or(false))
    return plan_partitioned_index(b, orig, name);
  PgQuery__IndexStmt copy = *orig;
  copy.concurrent = 1;
  auto sql = deparse_index(b, copy, name);
  if (!sql) return b.fail("could not regenerate the statement");
  Phase p = b.phase(PhaseKind::autocommit, "build index " + name + " concurrently", *sql, table);
  p.cleanup_sql = "DROP INDEX CONCURRENTLY IF EXISTS " + quote_qualified(cstr(orig->relation->schemaname), name);
  b.add(std::move(p));
  return true;
}

bool plan_drop_index(Builder& b) {
  const auto* orig = b.s.node->drop_stmt;
  if (orig->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE)
    return b.fail("DROP INDEX CONCURRENTLY does not support CASCADE: drop the dependent objects first");
  // CONCURRENTLY takes one index at a time: one phase per name, in the order given.
  for (std::size_t i = 0; i < orig->n_objects; ++i) {
    PgQuery__DropStmt copy = *orig;
    copy.concurrent = 1;
    copy.n_objects = 1;
    copy.objects = &orig->objects[i];
    PgQuery__Node n = *b.s.node;
    n.drop_stmt = &copy;
    auto sql = verified(deparse_statement(&n), PG_QUERY__NODE__NODE_DROP_STMT);
    if (!sql || !same_statement(*sql, &n)) return b.fail("could not regenerate the statement");
    const auto parts = tree::list_items(orig->objects[i]);
    const std::string index = tree::dotted(parts.items, parts.n);
    std::vector<std::string> names = tree::names(parts.items, parts.n);
    const std::string quoted = names.size() == 2 ? quote_qualified(names[0], names[1])
                               : names.empty()   ? std::string()
                                                 : quote_ident(names.back());
    b.add(b.phase(PhaseKind::autocommit, "drop index " + index + " concurrently", *sql, quoted));
  }
  return true;
}

bool plan_reindex(Builder& b) {
  if (b.ctx.server_version_num < 120000) return b.fail("REINDEX CONCURRENTLY needs PostgreSQL 12");
  const auto* orig = b.s.node->reindex_stmt;
  if (orig->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_SYSTEM)
    return b.fail("system catalogs cannot be reindexed concurrently");
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
  PgQuery__Node n = *b.s.node;
  n.reindex_stmt = &copy;
  auto sql = verified(deparse_statement(&n), PG_QUERY__NODE__NODE_REINDEX_STMT);
  if (!sql) return b.fail("could not regenerate the statement");
  // A failed REINDEX CONCURRENTLY leaves an INVALID "<index>_ccnew" copy whose name only the
  // catalogue knows; the phase description says so instead of guessing a cleanup.
  b.add(b.phase(PhaseKind::autocommit, "reindex concurrently (a failure may leave an invalid *_ccnew index to drop)", *sql,
                orig->relation ? qualified(orig->relation) : std::string()));
  return true;
}

bool plan_refresh(Builder& b) {
  const auto* orig = b.s.node->refresh_mat_view_stmt;
  if (orig->skip_data) return b.fail("REFRESH … CONCURRENTLY cannot be combined with WITH NO DATA");
  if (described(b.ctx.facts, orig->relation)) {
    // CONCURRENTLY needs a valid unique index on plain columns that covers every row.
    bool usable = false;
    for (const auto& i : b.ctx.facts->indexes(tree::qname(orig->relation))) {
      bool plain = !i.columns.empty();
      for (const auto& c : i.columns) plain = plain && !c.empty();
      usable = usable || (i.unique && i.valid && !i.partial && plain);
    }
    if (!usable)
      return b.fail("REFRESH … CONCURRENTLY needs a unique index on plain columns of " + qualified(orig->relation) +
                    " without a WHERE clause, and it has none: create one (CREATE UNIQUE INDEX CONCURRENTLY) first");
  }
  PgQuery__RefreshMatViewStmt copy = *orig;
  copy.concurrent = 1;
  PgQuery__Node n = *b.s.node;
  n.refresh_mat_view_stmt = &copy;
  auto sql = verified(deparse_statement(&n), PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT);
  if (!sql) return b.fail("could not regenerate the statement");
  // Long, and only blocks other refreshes: its own transaction without a statement_timeout.
  Phase p = b.phase(PhaseKind::online, "refresh concurrently (readers continue)", *sql, qualified(orig->relation));
  b.add(std::move(p));
  return true;
}

}  // namespace schemagate::policy::plans
