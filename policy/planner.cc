#include "policy/planner.h"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <set>

#include "policy/plans/builder.h"
#include "policy/quote.h"
#include "policy/sql_parser.h"

namespace schemagate::policy {

namespace plans {

bool plan_guarded(Builder& b) {
  // The statement itself, regenerated and proven identical to the original tree (the deparser
  // would otherwise silently change, say, an unquoted constraint name).
  auto sql = verified(b.s.node->node_case == PG_QUERY__NODE__NODE_ALTER_TABLE_STMT
                         ? plans::deparse_alter(b.s.node, *b.s.node->alter_table_stmt)
                         : deparse_statement(b.s.node),
                     b.s.node->node_case);
  if (!sql || !same_statement(*sql, b.s.node))
    return b.fail("schemagate cannot regenerate this statement exactly; SET lock_timeout before it instead");
  std::string table;
  for (const auto& o : b.s.objects)
    if (!o.created && static_cast<int>(o.lock) >= static_cast<int>(LockLevel::share) && table.empty())
      table = quote_qualified(o.schema, o.name);
  // Statements that refuse a transaction block (VACUUM FULL, …) get a session-level timeout instead.
  const PhaseKind kind = b.s.allowed_in_transaction ? PhaseKind::guarded : PhaseKind::autocommit;
  b.add(b.phase(kind, "run " + b.s.tag + " unchanged under lock_timeout, retried when the lock is not granted", *sql,
                table));
  b.summary = "the statement as it is, but never queued behind a lock for longer than lock_timeout";
  b.handled.insert("require_lock_timeout");
  return true;
}

}  // namespace plans

namespace {

bool subset(const std::set<std::string>& rules, std::initializer_list<std::string_view> allowed) {
  return std::all_of(rules.begin(), rules.end(), [&](const std::string& r) {
    return std::find(allowed.begin(), allowed.end(), r) != allowed.end();
  });
}

}  // namespace

std::optional<Plan> DefaultPlanner::plan(const Statement& s, const std::vector<Finding>& rewrite,
                                         const PlanContext& ctx, std::string& why_not) const {
  if (!s.node || rewrite.empty()) {
    why_not = "nothing to rewrite";
    return std::nullopt;
  }
  // require_lock_timeout is satisfied by every plan: each phase sets lock_timeout. Alone, it
  // asks for the statement unchanged under lock_timeout.
  std::set<std::string> rules;
  for (const auto& f : rewrite)
    if (f.rule_id != "require_lock_timeout") rules.insert(f.rule_id);
  plans::Builder b{s, ctx, {}, {}, {}, {}, {}, {}, {}};
  bool ok = false;
  if (rules.empty()) {
    ok = plans::plan_guarded(b);
  } else {
    switch (s.node->node_case) {
      case PG_QUERY__NODE__NODE_INDEX_STMT:
        if (subset(rules, {"require_concurrent_index"})) {
          ok = plans::plan_create_index(b);
          b.summary = "build the index without blocking writes";
        }
        break;
      case PG_QUERY__NODE__NODE_DROP_STMT:
        if (subset(rules, {"require_concurrent_drop_index"})) {
          ok = plans::plan_drop_index(b);
          b.summary = "drop each index without blocking reads and writes";
        }
        break;
      case PG_QUERY__NODE__NODE_REINDEX_STMT:
        if (subset(rules, {"require_concurrent_reindex"})) {
          ok = plans::plan_reindex(b);
          b.summary = "rebuild without blocking writes";
        }
        break;
      case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT:
        if (subset(rules, {"refresh_matview_non_concurrent"})) {
          ok = plans::plan_refresh(b);
          b.summary = "refresh without blocking readers";
        }
        break;
      case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
        if (subset(rules, {"add_foreign_key", "add_check_constraint", "add_unique_constraint", "add_primary_key",
                           "set_not_null", "add_column_volatile_default", "require_concurrent_detach_partition"}))
          ok = plans::plan_alter_table(b, rules);
        break;
      default: break;
    }
  }
  if (!ok) {
    why_not = !b.why_not.empty() ? b.why_not : "no rewrite is known for this combination of rules";
    return std::nullopt;
  }
  Plan plan = b.finish();
  plan.rule_id = rules.empty() ? std::string("require_lock_timeout") : std::string();
  for (const auto& f : rewrite)
    if (plan.rule_id.empty() && f.rule_id != "require_lock_timeout") plan.rule_id = f.rule_id;
  return plan;
}

}  // namespace schemagate::policy
