#include "policy/classifier.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "policy/pg_tree.h"

namespace schemagate::policy {

using tree::cstr;
using tree::str;

const char* lock_name(LockLevel l) {
  switch (l) {
    case LockLevel::none: return "none";
    case LockLevel::access_share: return "ACCESS SHARE";
    case LockLevel::row_share: return "ROW SHARE";
    case LockLevel::row_exclusive: return "ROW EXCLUSIVE";
    case LockLevel::share_update_exclusive: return "SHARE UPDATE EXCLUSIVE";
    case LockLevel::share: return "SHARE";
    case LockLevel::share_row_exclusive: return "SHARE ROW EXCLUSIVE";
    case LockLevel::exclusive: return "EXCLUSIVE";
    case LockLevel::access_exclusive: return "ACCESS EXCLUSIVE";
  }
  return "?";
}

const char* lock_effect(LockLevel l) {
  switch (l) {
    case LockLevel::none:
    case LockLevel::access_share: return "blocks nothing but ACCESS EXCLUSIVE";
    case LockLevel::row_share:
    case LockLevel::row_exclusive: return "blocks only explicit table locks";
    case LockLevel::share_update_exclusive: return "blocks other schema changes and VACUUM, not reads or writes";
    case LockLevel::share: return "blocks writes (INSERT/UPDATE/DELETE), allows reads";
    case LockLevel::share_row_exclusive: return "blocks writes, allows reads";
    case LockLevel::exclusive: return "blocks writes and SELECT … FOR UPDATE, allows plain reads";
    case LockLevel::access_exclusive: return "blocks all reads and writes";
  }
  return "?";
}

const char* class_name(StatementClass c) {
  switch (c) {
    case StatementClass::query: return "query";
    case StatementClass::dml: return "dml";
    case StatementClass::transaction: return "transaction";
    case StatementClass::session: return "session";
    case StatementClass::ddl: return "ddl";
    case StatementClass::maintenance: return "maintenance";
    case StatementClass::opaque: return "opaque";
  }
  return "?";
}

namespace {

using C = StatementClass;
using L = LockLevel;

// Function names whose volatility we know without a catalog (pg_catalog, PostgreSQL 15).
constexpr std::array<std::string_view, 14> kVolatileFunctions = {
    "random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "clock_timestamp",
    "timeofday", "nextval", "setseed", "txid_current", "pg_current_xact_id", "currval", "lastval", "setval"};
constexpr std::array<std::string_view, 8> kStableFunctions = {
    "now", "transaction_timestamp", "statement_timestamp", "current_setting", "to_char", "current_database",
    "current_schema", "to_timestamp"};
constexpr std::array<std::string_view, 18> kImmutableFunctions = {
    "lower", "upper", "length", "abs", "md5", "concat_ws", "trim", "btrim", "ltrim", "rtrim", "round", "floor",
    "ceil", "jsonb_build_object", "json_build_object", "jsonb_build_array", "array_length", "make_interval"};

template <std::size_t N>
bool in(const std::array<std::string_view, N>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

struct VolatilityWalk {
  const CatalogFacts* facts;
  Volatility worst = Volatility::immutable;
  std::string culprit;

  void raise(Volatility v, std::string why) {
    if (static_cast<int>(v) > static_cast<int>(worst)) {
      worst = v;
      culprit = std::move(why);
    }
  }
  void walk_list(PgQuery__Node* const* items, std::size_t n, int depth) {
    for (std::size_t i = 0; i < n; ++i) walk(items[i], depth + 1);
  }
  void walk(const PgQuery__Node* n, int depth) {
    if (!n) return;
    if (depth > 200) {  // absurdly deep expression: do not recurse further, assume the worst
      raise(Volatility::volatile_, "expression too deep to inspect");
      return;
    }
    switch (n->node_case) {
      case PG_QUERY__NODE__NODE_A_CONST:
      case PG_QUERY__NODE__NODE_STRING:
      case PG_QUERY__NODE__NODE_INTEGER:
      case PG_QUERY__NODE__NODE_FLOAT:
      case PG_QUERY__NODE__NODE_BOOLEAN:
      case PG_QUERY__NODE__NODE_COLUMN_REF:
      case PG_QUERY__NODE__NODE_PARAM_REF: return;
      case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION: raise(Volatility::stable, "CURRENT_TIMESTAMP-like function"); return;
      case PG_QUERY__NODE__NODE_TYPE_CAST: walk(n->type_cast->arg, depth + 1); return;
      case PG_QUERY__NODE__NODE_A_EXPR:
        walk(n->a_expr->lexpr, depth + 1);
        walk(n->a_expr->rexpr, depth + 1);
        return;
      case PG_QUERY__NODE__NODE_BOOL_EXPR: walk_list(n->bool_expr->args, n->bool_expr->n_args, depth); return;
      case PG_QUERY__NODE__NODE_COALESCE_EXPR:
        walk_list(n->coalesce_expr->args, n->coalesce_expr->n_args, depth);
        return;
      case PG_QUERY__NODE__NODE_MIN_MAX_EXPR: walk_list(n->min_max_expr->args, n->min_max_expr->n_args, depth); return;
      case PG_QUERY__NODE__NODE_NULL_TEST: walk(n->null_test->arg, depth + 1); return;
      case PG_QUERY__NODE__NODE_A_ARRAY_EXPR:
        walk_list(n->a_array_expr->elements, n->a_array_expr->n_elements, depth);
        return;
      case PG_QUERY__NODE__NODE_ROW_EXPR: walk_list(n->row_expr->args, n->row_expr->n_args, depth); return;
      case PG_QUERY__NODE__NODE_LIST: walk_list(n->list->items, n->list->n_items, depth); return;
      case PG_QUERY__NODE__NODE_CASE_EXPR: {
        walk(n->case_expr->arg, depth + 1);
        walk_list(n->case_expr->args, n->case_expr->n_args, depth);
        walk(n->case_expr->defresult, depth + 1);
        return;
      }
      case PG_QUERY__NODE__NODE_CASE_WHEN:
        walk(n->case_when->expr, depth + 1);
        walk(n->case_when->result, depth + 1);
        return;
      case PG_QUERY__NODE__NODE_COLLATE_CLAUSE: walk(n->collate_clause->arg, depth + 1); return;
      case PG_QUERY__NODE__NODE_FUNC_CALL: {
        const auto* f = n->func_call;
        const auto parts = tree::names(f->funcname, f->n_funcname);
        const std::string name = parts.empty() ? std::string() : parts.back();
        const std::string full = tree::dotted(f->funcname, f->n_funcname);
        std::optional<Volatility> v;
        if (facts) v = facts->function_volatility(full);
        const bool builtin = parts.size() == 1 || (parts.size() == 2 && parts[0] == "pg_catalog");
        if (!v && builtin) {
          if (in(kVolatileFunctions, name)) v = Volatility::volatile_;
          else if (in(kStableFunctions, name)) v = Volatility::stable;
          else if (in(kImmutableFunctions, name)) v = Volatility::immutable;
        }
        raise(v.value_or(Volatility::volatile_), full + (v ? "()" : "() (volatility unknown)"));
        walk_list(f->args, f->n_args, depth);
        return;
      }
      default:  // subqueries and anything unusual: assume the worst
        raise(Volatility::volatile_, "a subquery or unusual expression");
        return;
    }
  }
};

ObjectRef object(const PgQuery__RangeVar* rv, std::string kind, L lock, const CatalogFacts* facts,
                 bool created = false) {
  ObjectRef o;
  o.kind = std::move(kind);
  o.lock = lock;
  o.created = created;
  if (!rv) return o;
  o.schema = cstr(rv->schemaname);
  o.name = cstr(rv->relname);
  if (o.schema.empty() && facts && !created) {
    if (auto s = facts->resolve_schema(o.name)) o.schema = *s;
  }
  return o;
}

ObjectRef named_object(PgQuery__Node* const* items, std::size_t n, std::string kind, L lock, bool created = false) {
  ObjectRef o;
  o.kind = std::move(kind);
  o.lock = lock;
  o.created = created;
  auto parts = tree::names(items, n);
  if (!parts.empty()) {
    o.name = parts.back();
    parts.pop_back();
    if (!parts.empty()) o.schema = parts.back();
  }
  return o;
}

const char* object_kind(PgQuery__ObjectType t) {
  switch (t) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE: return "table";
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX: return "index";
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW: return "view";
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW: return "materialized view";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE: return "sequence";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE: return "foreign table";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA: return "schema";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TYPE: return "type";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN: return "domain";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION: return "function";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE: return "procedure";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER: return "trigger";
    case PG_QUERY__OBJECT_TYPE__OBJECT_EXTENSION: return "extension";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DATABASE: return "database";
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN: return "column";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT: return "constraint";
    case PG_QUERY__OBJECT_TYPE__OBJECT_POLICY: return "policy";
    case PG_QUERY__OBJECT_TYPE__OBJECT_RULE: return "rule";
    default: return "object";
  }
}

bool is_relation_kind(PgQuery__ObjectType t) {
  return t == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE || t == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX ||
         t == PG_QUERY__OBJECT_TYPE__OBJECT_VIEW || t == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW ||
         t == PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE || t == PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE;
}

// PostgreSQL 15's AlterTableGetLockLevel, per subcommand.
L alter_cmd_lock(const PgQuery__AlterTableCmd* cmd) {
  switch (cmd->subtype) {
    case PG_QUERY__ALTER_TABLE_TYPE__AT_SetStatistics:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_SetOptions:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ResetOptions:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ClusterOn:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DropCluster:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_SetRelOptions:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ResetRelOptions:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ReplaceRelOptions:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraint:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraintRecurse:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AttachPartition:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartitionFinalize: return L::share_update_exclusive;
    case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrig:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableAlwaysTrig:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableReplicaTrig:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrigAll:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrigUser:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrig:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigAll:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigUser: return L::share_row_exclusive;
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse: {
      const auto* d = cmd->def;
      if (d && d->node_case == PG_QUERY__NODE__NODE_CONSTRAINT &&
          d->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN)
        return L::share_row_exclusive;
      return L::access_exclusive;
    }
    default: return L::access_exclusive;
  }
}

std::string_view alter_cmd_name(PgQuery__AlterTableType t) {
  switch (t) {
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnRecurse:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnToView: return "ADD COLUMN";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumnRecurse: return "DROP COLUMN";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnType: return "ALTER COLUMN TYPE";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ColumnDefault: return "ALTER COLUMN SET/DROP DEFAULT";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull: return "ALTER COLUMN SET NOT NULL";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DropNotNull: return "ALTER COLUMN DROP NOT NULL";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse: return "ADD CONSTRAINT";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraint:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraintRecurse: return "VALIDATE CONSTRAINT";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DropConstraint:
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DropConstraintRecurse: return "DROP CONSTRAINT";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddIndexConstraint: return "ADD CONSTRAINT USING INDEX";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_SetLogged: return "SET LOGGED";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_SetUnLogged: return "SET UNLOGGED";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_SetTableSpace: return "SET TABLESPACE";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_SetAccessMethod: return "SET ACCESS METHOD";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AttachPartition: return "ATTACH PARTITION";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartition: return "DETACH PARTITION";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ChangeOwner: return "OWNER TO";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddIdentity: return "ADD IDENTITY";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ReplicaIdentity: return "REPLICA IDENTITY";
    case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableRowSecurity: return "ENABLE ROW LEVEL SECURITY";
    default: return "ALTER";
  }
}

void add_object(Statement& s, ObjectRef o) {
  if (!o.created && static_cast<int>(o.lock) > static_cast<int>(s.lock)) s.lock = o.lock;
  s.objects.push_back(std::move(o));
}

// Objects of a DROP/COMMENT-style object list: relations are List-of-String, others vary.
void add_dropped(Statement& s, const PgQuery__DropStmt* d, const CatalogFacts* facts) {
  const char* kind = object_kind(d->remove_type);
  const bool rel = is_relation_kind(d->remove_type);
  for (std::size_t i = 0; i < d->n_objects; ++i) {
    const auto* o = d->objects[i];
    auto items = tree::list_items(o);
    ObjectRef ref;
    if (items.n > 0) {
      ref = named_object(items.items, items.n, kind, L::access_exclusive);
    } else if (o && o->node_case == PG_QUERY__NODE__NODE_STRING) {
      ref.kind = kind;
      ref.name = str(o);
      ref.lock = L::access_exclusive;
    } else if (o && o->node_case == PG_QUERY__NODE__NODE_OBJECT_WITH_ARGS) {
      ref = named_object(o->object_with_args->objname, o->object_with_args->n_objname, kind, L::access_exclusive);
    } else if (o && o->node_case == PG_QUERY__NODE__NODE_TYPE_NAME) {
      ref = named_object(o->type_name->names, o->type_name->n_names, kind, L::access_exclusive);
    } else {
      ref.kind = kind;
      ref.lock = L::access_exclusive;
    }
    if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX && d->concurrent) ref.lock = L::share_update_exclusive;
    if (!rel) ref.lock = ref.kind == "schema" || ref.kind == "type" || ref.kind == "function" ? L::none : ref.lock;
    if (rel && ref.schema.empty() && facts) {
      if (auto sch = facts->resolve_schema(ref.name)) ref.schema = *sch;
    }
    add_object(s, std::move(ref));
  }
}

void classify_alter_table(const PgQuery__AlterTableStmt* a, const CatalogFacts* facts, Statement& s) {
  const char* kind = object_kind(a->objtype);
  s.tag = std::string("ALTER ") + (a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX      ? "INDEX"
                                   : a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_VIEW     ? "VIEW"
                                   : a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW  ? "MATERIALIZED VIEW"
                                   : a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE ? "SEQUENCE"
                                                                                           : "TABLE");
  L lock = L::none;
  std::string ops;
  const int version = facts ? facts->server_version_num() : 0;
  for (std::size_t i = 0; i < a->n_cmds; ++i) {
    const auto* n = a->cmds[i];
    if (!n || n->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD) continue;
    const auto* cmd = n->alter_table_cmd;
    const L l = alter_cmd_lock(cmd);
    if (static_cast<int>(l) > static_cast<int>(lock)) lock = l;
    const auto name = alter_cmd_name(cmd->subtype);
    if (ops.find(name) == std::string::npos) {
      if (!ops.empty()) ops += ", ";
      ops += name;
    }
    switch (cmd->subtype) {
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnRecurse:
        if (cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF) {
          const auto cf = column_facts(cmd->def->column_def, facts);
          if (cf.rewrites(version ? version : 150000)) s.rewrites_table = true;
          if (cf.not_null || cf.primary_key) s.scans_table = true;
        }
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnType: {
        const auto* def = cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF ? cmd->def->column_def
                                                                                            : nullptr;
        std::optional<std::string> old;
        if (facts && a->relation) old = facts->column_type(tree::qname(a->relation), cstr(cmd->name));
        const auto tc = def ? type_change(old.value_or(""), def->type_name, def->raw_default != nullptr)
                            : TypeChange::unknown;
        if (tc != TypeChange::binary_coercible) s.rewrites_table = true;  // unknown: assume the worst
        break;
      }
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetLogged:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetUnLogged:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetTableSpace:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetAccessMethod: s.rewrites_table = true; break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AttachPartition:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraint:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraintRecurse:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddIndex: s.scans_table = true; break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse:
        if (cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT) {
          const auto* c = cmd->def->constraint;
          if (!c->skip_validation) s.scans_table = true;
          if (c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN && c->pktable)
            add_object(s, object(c->pktable, "table", L::share_row_exclusive, facts));
        }
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartition:
        if (cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_PARTITION_CMD &&
            cmd->def->partition_cmd->concurrent) {
          s.allowed_in_transaction = false;
          s.concurrent = true;
          lock = L::share_update_exclusive;
        }
        break;
      default: break;
    }
  }
  s.operation = s.tag + " " + ops;
  ObjectRef target = object(a->relation, kind, lock, facts);
  s.objects.insert(s.objects.begin(), target);
  if (static_cast<int>(lock) > static_cast<int>(s.lock)) s.lock = lock;
}

void classify_create_table(const PgQuery__CreateStmt* c, const CatalogFacts* facts, Statement& s,
                           const char* kind) {
  add_object(s, object(c->relation, kind, L::access_exclusive, facts, /*created=*/true));
  auto fk = [&](const PgQuery__Constraint* con) {
    if (con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN && con->pktable)
      add_object(s, object(con->pktable, "table", L::share_row_exclusive, facts));
  };
  for (std::size_t i = 0; i < c->n_table_elts; ++i) {
    const auto* e = c->table_elts[i];
    if (!e) continue;
    if (e->node_case == PG_QUERY__NODE__NODE_CONSTRAINT) fk(e->constraint);
    if (e->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF)
      for (std::size_t j = 0; j < e->column_def->n_constraints; ++j)
        if (const auto* cn = e->column_def->constraints[j]; cn && cn->node_case == PG_QUERY__NODE__NODE_CONSTRAINT)
          fk(cn->constraint);
  }
  for (std::size_t i = 0; i < c->n_constraints; ++i)
    if (const auto* cn = c->constraints[i]; cn && cn->node_case == PG_QUERY__NODE__NODE_CONSTRAINT) fk(cn->constraint);
  // CREATE TABLE … PARTITION OF parent locks the parent (ACCESS EXCLUSIVE before PG 12's detach work).
  if (c->partbound)
    for (std::size_t i = 0; i < c->n_inh_relations; ++i)
      if (const auto* p = c->inh_relations[i]; p && p->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
        add_object(s, object(p->range_var, "table", L::access_exclusive, facts));
}

// Statement kinds that need no special handling: tag, class, lock on their object, transaction.
struct Generic {
  PgQuery__Node__NodeCase node_case;
  const char* node_type;
  const char* tag;
  C klass;
  bool tx_ok;
};

constexpr Generic kGeneric[] = {
    {PG_QUERY__NODE__NODE_INSERT_STMT, "InsertStmt", "INSERT", C::dml, true},
    {PG_QUERY__NODE__NODE_UPDATE_STMT, "UpdateStmt", "UPDATE", C::dml, true},
    {PG_QUERY__NODE__NODE_DELETE_STMT, "DeleteStmt", "DELETE", C::dml, true},
    {PG_QUERY__NODE__NODE_MERGE_STMT, "MergeStmt", "MERGE", C::dml, true},
    {PG_QUERY__NODE__NODE_COPY_STMT, "CopyStmt", "COPY", C::dml, true},
    {PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT, "VariableShowStmt", "SHOW", C::query, true},
    {PG_QUERY__NODE__NODE_DISCARD_STMT, "DiscardStmt", "DISCARD", C::session, true},
    {PG_QUERY__NODE__NODE_PREPARE_STMT, "PrepareStmt", "PREPARE", C::session, true},
    {PG_QUERY__NODE__NODE_EXECUTE_STMT, "ExecuteStmt", "EXECUTE", C::session, true},
    {PG_QUERY__NODE__NODE_DEALLOCATE_STMT, "DeallocateStmt", "DEALLOCATE", C::session, true},
    {PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT, "DeclareCursorStmt", "DECLARE CURSOR", C::session, true},
    {PG_QUERY__NODE__NODE_FETCH_STMT, "FetchStmt", "FETCH", C::session, true},
    {PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT, "ClosePortalStmt", "CLOSE CURSOR", C::session, true},
    {PG_QUERY__NODE__NODE_LISTEN_STMT, "ListenStmt", "LISTEN", C::session, true},
    {PG_QUERY__NODE__NODE_UNLISTEN_STMT, "UnlistenStmt", "UNLISTEN", C::session, true},
    {PG_QUERY__NODE__NODE_NOTIFY_STMT, "NotifyStmt", "NOTIFY", C::session, true},
    {PG_QUERY__NODE__NODE_CONSTRAINTS_SET_STMT, "ConstraintsSetStmt", "SET CONSTRAINTS", C::session, true},
    {PG_QUERY__NODE__NODE_LOAD_STMT, "LoadStmt", "LOAD", C::session, true},
    {PG_QUERY__NODE__NODE_CHECK_POINT_STMT, "CheckPointStmt", "CHECKPOINT", C::maintenance, true},
    {PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT, "AlterSystemStmt", "ALTER SYSTEM", C::ddl, false},
    {PG_QUERY__NODE__NODE_CREATEDB_STMT, "CreatedbStmt", "CREATE DATABASE", C::ddl, false},
    {PG_QUERY__NODE__NODE_DROPDB_STMT, "DropdbStmt", "DROP DATABASE", C::ddl, false},
    {PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT, "AlterDatabaseStmt", "ALTER DATABASE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT, "AlterDatabaseSetStmt", "ALTER DATABASE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_DATABASE_REFRESH_COLL_STMT, "AlterDatabaseRefreshCollStmt", "ALTER DATABASE", C::ddl,
     true},
    {PG_QUERY__NODE__NODE_CREATE_TABLE_SPACE_STMT, "CreateTableSpaceStmt", "CREATE TABLESPACE", C::ddl, false},
    {PG_QUERY__NODE__NODE_DROP_TABLE_SPACE_STMT, "DropTableSpaceStmt", "DROP TABLESPACE", C::ddl, false},
    {PG_QUERY__NODE__NODE_ALTER_TABLE_SPACE_OPTIONS_STMT, "AlterTableSpaceOptionsStmt", "ALTER TABLESPACE", C::ddl,
     true},
    {PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT, "AlterTableMoveAllStmt", "ALTER TABLE", C::ddl, true},
    {PG_QUERY__NODE__NODE_GRANT_STMT, "GrantStmt", "GRANT", C::ddl, true},
    {PG_QUERY__NODE__NODE_GRANT_ROLE_STMT, "GrantRoleStmt", "GRANT ROLE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT, "AlterDefaultPrivilegesStmt", "ALTER DEFAULT PRIVILEGES",
     C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_ROLE_STMT, "CreateRoleStmt", "CREATE ROLE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_ROLE_STMT, "AlterRoleStmt", "ALTER ROLE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT, "AlterRoleSetStmt", "ALTER ROLE", C::ddl, true},
    {PG_QUERY__NODE__NODE_DROP_ROLE_STMT, "DropRoleStmt", "DROP ROLE", C::ddl, true},
    {PG_QUERY__NODE__NODE_DROP_OWNED_STMT, "DropOwnedStmt", "DROP OWNED", C::ddl, true},
    {PG_QUERY__NODE__NODE_REASSIGN_OWNED_STMT, "ReassignOwnedStmt", "REASSIGN OWNED", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT, "CreateFunctionStmt", "CREATE FUNCTION", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_FUNCTION_STMT, "AlterFunctionStmt", "ALTER FUNCTION", C::ddl, true},
    {PG_QUERY__NODE__NODE_DEFINE_STMT, "DefineStmt", "CREATE", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_DOMAIN_STMT, "CreateDomainStmt", "CREATE DOMAIN", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_DOMAIN_STMT, "AlterDomainStmt", "ALTER DOMAIN", C::ddl, true},
    {PG_QUERY__NODE__NODE_COMPOSITE_TYPE_STMT, "CompositeTypeStmt", "CREATE TYPE", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_ENUM_STMT, "CreateEnumStmt", "CREATE TYPE", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_RANGE_STMT, "CreateRangeStmt", "CREATE TYPE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_ENUM_STMT, "AlterEnumStmt", "ALTER TYPE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_TYPE_STMT, "AlterTypeStmt", "ALTER TYPE", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_SEQ_STMT, "CreateSeqStmt", "CREATE SEQUENCE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_SEQ_STMT, "AlterSeqStmt", "ALTER SEQUENCE", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT, "CreateSchemaStmt", "CREATE SCHEMA", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT, "CreateExtensionStmt", "CREATE EXTENSION", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_EXTENSION_STMT, "AlterExtensionStmt", "ALTER EXTENSION", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_EXTENSION_CONTENTS_STMT, "AlterExtensionContentsStmt", "ALTER EXTENSION", C::ddl,
     true},
    {PG_QUERY__NODE__NODE_CREATE_CONVERSION_STMT, "CreateConversionStmt", "CREATE CONVERSION", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_CAST_STMT, "CreateCastStmt", "CREATE CAST", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_OP_CLASS_STMT, "CreateOpClassStmt", "CREATE OPERATOR CLASS", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_OP_FAMILY_STMT, "CreateOpFamilyStmt", "CREATE OPERATOR FAMILY", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_OP_FAMILY_STMT, "AlterOpFamilyStmt", "ALTER OPERATOR FAMILY", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_OPERATOR_STMT, "AlterOperatorStmt", "ALTER OPERATOR", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_PLANG_STMT, "CreatePLangStmt", "CREATE LANGUAGE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_TSDICTIONARY_STMT, "AlterTSDictionaryStmt", "ALTER TEXT SEARCH DICTIONARY", C::ddl,
     true},
    {PG_QUERY__NODE__NODE_ALTER_TSCONFIGURATION_STMT, "AlterTSConfigurationStmt", "ALTER TEXT SEARCH CONFIGURATION",
     C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_FDW_STMT, "CreateFdwStmt", "CREATE FOREIGN DATA WRAPPER", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_FDW_STMT, "AlterFdwStmt", "ALTER FOREIGN DATA WRAPPER", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_FOREIGN_SERVER_STMT, "CreateForeignServerStmt", "CREATE SERVER", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_FOREIGN_SERVER_STMT, "AlterForeignServerStmt", "ALTER SERVER", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_USER_MAPPING_STMT, "CreateUserMappingStmt", "CREATE USER MAPPING", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_USER_MAPPING_STMT, "AlterUserMappingStmt", "ALTER USER MAPPING", C::ddl, true},
    {PG_QUERY__NODE__NODE_DROP_USER_MAPPING_STMT, "DropUserMappingStmt", "DROP USER MAPPING", C::ddl, true},
    {PG_QUERY__NODE__NODE_IMPORT_FOREIGN_SCHEMA_STMT, "ImportForeignSchemaStmt", "IMPORT FOREIGN SCHEMA", C::ddl,
     true},
    {PG_QUERY__NODE__NODE_SEC_LABEL_STMT, "SecLabelStmt", "SECURITY LABEL", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_EVENT_TRIG_STMT, "CreateEventTrigStmt", "CREATE EVENT TRIGGER", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_EVENT_TRIG_STMT, "AlterEventTrigStmt", "ALTER EVENT TRIGGER", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_TRANSFORM_STMT, "CreateTransformStmt", "CREATE TRANSFORM", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_AM_STMT, "CreateAmStmt", "CREATE ACCESS METHOD", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_PUBLICATION_STMT, "CreatePublicationStmt", "CREATE PUBLICATION", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_PUBLICATION_STMT, "AlterPublicationStmt", "ALTER PUBLICATION", C::ddl, true},
    // CREATE/DROP SUBSCRIPTION cannot run in a transaction block when they create/drop a slot (the default).
    {PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT, "CreateSubscriptionStmt", "CREATE SUBSCRIPTION", C::ddl, false},
    {PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT, "AlterSubscriptionStmt", "ALTER SUBSCRIPTION", C::ddl, true},
    {PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT, "DropSubscriptionStmt", "DROP SUBSCRIPTION", C::ddl, false},
    {PG_QUERY__NODE__NODE_ALTER_COLLATION_STMT, "AlterCollationStmt", "ALTER COLLATION", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_STATS_STMT, "AlterStatsStmt", "ALTER STATISTICS", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_OBJECT_DEPENDS_STMT, "AlterObjectDependsStmt", "ALTER", C::ddl, true},
    {PG_QUERY__NODE__NODE_COMMENT_STMT, "CommentStmt", "COMMENT", C::ddl, true},
    {PG_QUERY__NODE__NODE_RULE_STMT, "RuleStmt", "CREATE RULE", C::ddl, true},
    {PG_QUERY__NODE__NODE_REPLICA_IDENTITY_STMT, "ReplicaIdentityStmt", "ALTER TABLE", C::ddl, true},
};

}  // namespace

Volatility expression_volatility(const PgQuery__Node* expr, const CatalogFacts* facts, std::string* culprit) {
  VolatilityWalk w{facts, Volatility::immutable, {}};
  w.walk(expr, 0);
  if (culprit) *culprit = w.culprit;
  return w.worst;
}

ColumnFacts column_facts(const PgQuery__ColumnDef* def, const CatalogFacts* facts) {
  ColumnFacts f;
  if (!def) return f;
  f.name = cstr(def->colname);
  f.type = tree::type_base(def->type_name);
  f.serial = f.type == "serial" || f.type == "bigserial" || f.type == "smallserial" || f.type == "serial4" ||
             f.type == "serial8" || f.type == "serial2";
  f.not_null = def->is_not_null;
  if (def->raw_default) {
    f.has_default = true;
    f.default_expr = def->raw_default;
  }
  if (cstr(def->identity).size() > 0) f.identity = true;
  for (std::size_t i = 0; i < def->n_constraints; ++i) {
    const auto* n = def->constraints[i];
    if (!n || n->node_case != PG_QUERY__NODE__NODE_CONSTRAINT) continue;
    const auto* c = n->constraint;
    switch (c->contype) {
      case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT:
        f.has_default = true;
        f.default_expr = c->raw_expr;
        break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL: f.not_null = true; break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY: f.identity = true; break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_GENERATED: f.stored_generated = true; break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
        f.primary_key = true;
        f.not_null = true;
        break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE: f.unique = true; break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN: f.references = true; break;
      default: break;
    }
  }
  if (f.has_default && f.default_expr) {
    std::string why;
    // A NULL default is no default at all as far as the table is concerned.
    const auto* e = f.default_expr;
    if (e->node_case == PG_QUERY__NODE__NODE_A_CONST && e->a_const->isnull) {
      f.has_default = false;
    } else if (expression_volatility(e, facts, &why) == Volatility::volatile_) {
      f.default_volatile = true;
      f.volatile_reason = why;
    }
  }
  return f;
}

std::string type_display(const PgQuery__TypeName* t) {
  std::string s = tree::type_base(t);
  const auto mods = tree::typmods(t);
  if (!mods.empty()) {
    s += "(";
    for (std::size_t i = 0; i < mods.size(); ++i) {
      if (i) s += ",";
      s += std::to_string(mods[i]);
    }
    s += ")";
  }
  if (t && t->n_array_bounds > 0) s += "[]";
  return s;
}

namespace {

// Normalises format_type() output and grammar names to one spelling ("character varying" → varchar).
std::string canonical_type(std::string name) {
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name == "character varying") return "varchar";
  if (name == "character" || name == "bpchar") return "bpchar";
  if (name == "integer" || name == "int") return "int4";
  if (name == "bigint") return "int8";
  if (name == "smallint") return "int2";
  if (name == "decimal") return "numeric";
  if (name == "bit varying") return "varbit";
  return name;
}

// Splits "character varying(20)" into ("varchar", {20}).
std::pair<std::string, std::vector<int>> split_type(std::string_view text) {
  std::vector<int> mods;
  std::string base(text);
  if (const auto open = text.find('('); open != std::string_view::npos) {
    base = std::string(text.substr(0, open));
    std::string_view rest = text.substr(open + 1);
    int v = 0;
    bool have = false;
    for (char c : rest) {
      if (c >= '0' && c <= '9') {
        v = v * 10 + (c - '0');
        have = true;
      } else if (c == ',' || c == ')') {
        if (have) mods.push_back(v);
        v = 0;
        have = false;
        if (c == ')') break;
      }
    }
  }
  while (!base.empty() && base.back() == ' ') base.pop_back();
  return {canonical_type(base), mods};
}

}  // namespace

TypeChange type_change(std::string_view old_type, const PgQuery__TypeName* new_type, bool has_using) {
  if (has_using) return TypeChange::rewrite;
  if (old_type.empty() || !new_type) return TypeChange::unknown;
  const auto [old_base, old_mods] = split_type(old_type);
  const std::string new_base = canonical_type(tree::type_base(new_type));
  const auto new_mods = tree::typmods(new_type);
  if (old_base == new_base && old_mods == new_mods) return TypeChange::binary_coercible;
  if (old_base == "varchar" && (new_base == "text" || (new_base == "varchar" && new_mods.empty())))
    return TypeChange::binary_coercible;
  if (old_base == "varchar" && new_base == "varchar" && !old_mods.empty() && !new_mods.empty() &&
      new_mods[0] >= old_mods[0])
    return TypeChange::binary_coercible;
  if (old_base == "text" && new_base == "varchar" && new_mods.empty()) return TypeChange::binary_coercible;
  if (old_base == "numeric" && new_base == "numeric") {
    if (new_mods.empty()) return TypeChange::binary_coercible;
    if (old_mods.size() == 2 && new_mods.size() == 2 && new_mods[0] >= old_mods[0] && new_mods[1] == old_mods[1])
      return TypeChange::binary_coercible;
  }
  if (old_base == "varbit" && new_base == "varbit" &&
      (new_mods.empty() || (!old_mods.empty() && new_mods[0] >= old_mods[0])))
    return TypeChange::binary_coercible;
  if (old_base == "cidr" && new_base == "inet") return TypeChange::binary_coercible;
  return TypeChange::rewrite;
}

void classify(const PgQuery__Node* node, const CatalogFacts* facts, Statement& s) {
  s.node = node;
  if (!node) {
    s.node_type = "Empty";
    s.tag = "";
    s.klass = C::query;
    return;
  }
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT: {
      const auto* sel = node->select_stmt;
      s.node_type = "SelectStmt";
      if (sel->into_clause) {  // SELECT … INTO creates a table
        s.tag = "SELECT";
        s.operation = "SELECT INTO";
        s.klass = C::ddl;
        add_object(s, object(sel->into_clause->rel, "table", L::access_exclusive, facts, true));
      } else {
        s.tag = "SELECT";
        s.operation = "SELECT";
        s.klass = C::query;
        // FOR UPDATE etc. take ROW SHARE; plain reads ACCESS SHARE. Not tracked per table here.
      }
      return;
    }
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT: {
      s.node_type = "TransactionStmt";
      s.klass = C::transaction;
      switch (node->transaction_stmt->kind) {
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START: s.tag = "BEGIN"; break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT: s.tag = "COMMIT"; break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK: s.tag = "ROLLBACK"; break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT: s.tag = "SAVEPOINT"; break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE: s.tag = "RELEASE"; break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO: s.tag = "ROLLBACK"; break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE: s.tag = "PREPARE TRANSACTION"; break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED:
          s.tag = "COMMIT PREPARED";
          s.allowed_in_transaction = false;
          break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED:
          s.tag = "ROLLBACK PREPARED";
          s.allowed_in_transaction = false;
          break;
        default: s.tag = "TRANSACTION"; break;
      }
      s.operation = s.tag;
      return;
    }
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
      s.node_type = "VariableSetStmt";
      s.tag = node->variable_set_stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
                      node->variable_set_stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL
                  ? "RESET"
                  : "SET";
      s.operation = s.tag + " " + std::string(cstr(node->variable_set_stmt->name));
      s.klass = C::session;
      return;
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT: {
      s.node_type = "ExplainStmt";
      s.tag = "EXPLAIN";
      s.operation = "EXPLAIN";
      const auto* e = node->explain_stmt;
      // EXPLAIN ANALYZE executes its statement (CREATE TABLE AS included): classify what it runs.
      if (tree::has_option(e->options, e->n_options, "analyze") && e->query) {
        Statement inner;
        classify(e->query, facts, inner);
        s.klass = inner.klass;
        s.objects = inner.objects;
        s.lock = inner.lock;
        s.rewrites_table = inner.rewrites_table;
        s.scans_table = inner.scans_table;
        s.operation = "EXPLAIN ANALYZE " + inner.operation;
      } else {
        s.klass = C::query;
      }
      return;
    }
    case PG_QUERY__NODE__NODE_CREATE_STMT:
      s.node_type = "CreateStmt";
      s.tag = "CREATE TABLE";
      s.operation = "CREATE TABLE";
      s.klass = C::ddl;
      classify_create_table(node->create_stmt, facts, s, "table");
      return;
    case PG_QUERY__NODE__NODE_CREATE_FOREIGN_TABLE_STMT:
      s.node_type = "CreateForeignTableStmt";
      s.tag = "CREATE FOREIGN TABLE";
      s.operation = s.tag;
      s.klass = C::ddl;
      if (node->create_foreign_table_stmt->base_stmt)
        classify_create_table(node->create_foreign_table_stmt->base_stmt, facts, s, "foreign table");
      return;
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT: {
      const auto* c = node->create_table_as_stmt;
      s.node_type = "CreateTableAsStmt";
      const bool mv = c->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW;
      s.tag = mv ? "CREATE MATERIALIZED VIEW" : c->is_select_into ? "SELECT" : "CREATE TABLE AS";
      s.operation = mv ? "CREATE MATERIALIZED VIEW" : c->is_select_into ? "SELECT INTO" : "CREATE TABLE AS";
      s.klass = C::ddl;
      if (c->into) add_object(s, object(c->into->rel, mv ? "materialized view" : "table", L::access_exclusive, facts, true));
      return;
    }
    case PG_QUERY__NODE__NODE_VIEW_STMT:
      s.node_type = "ViewStmt";
      s.tag = "CREATE VIEW";
      s.operation = node->view_stmt->replace ? "CREATE OR REPLACE VIEW" : "CREATE VIEW";
      s.klass = C::ddl;
      add_object(s, object(node->view_stmt->view, "view", node->view_stmt->replace ? L::access_exclusive : L::none,
                           facts, !node->view_stmt->replace));
      return;
    case PG_QUERY__NODE__NODE_INDEX_STMT: {
      const auto* i = node->index_stmt;
      s.node_type = "IndexStmt";
      s.tag = "CREATE INDEX";
      s.concurrent = i->concurrent;
      s.operation = std::string("CREATE ") + (i->unique ? "UNIQUE " : "") + "INDEX" + (i->concurrent ? " CONCURRENTLY" : "");
      s.klass = C::ddl;
      s.scans_table = true;
      s.allowed_in_transaction = !i->concurrent;
      add_object(s, object(i->relation, "table", i->concurrent ? L::share_update_exclusive : L::share, facts));
      if (!cstr(i->idxname).empty()) {
        ObjectRef idx;
        idx.kind = "index";
        idx.schema = s.objects.front().schema;
        idx.name = i->idxname;
        idx.created = true;
        idx.lock = L::access_exclusive;
        add_object(s, idx);
      }
      return;
    }
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
      s.node_type = "AlterTableStmt";
      s.klass = C::ddl;
      classify_alter_table(node->alter_table_stmt, facts, s);
      return;
    case PG_QUERY__NODE__NODE_DROP_STMT: {
      const auto* d = node->drop_stmt;
      s.node_type = "DropStmt";
      std::string kind = object_kind(d->remove_type);
      for (auto& ch : kind) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      s.tag = "DROP " + kind;
      s.concurrent = d->concurrent;
      s.operation = s.tag + (d->concurrent ? " CONCURRENTLY" : "") +
                    (d->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE ? " CASCADE" : "");
      s.klass = C::ddl;
      s.allowed_in_transaction = !d->concurrent;
      add_dropped(s, d, facts);
      return;
    }
    case PG_QUERY__NODE__NODE_RENAME_STMT: {
      const auto* r = node->rename_stmt;
      s.node_type = "RenameStmt";
      s.klass = C::ddl;
      const bool column = r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN;
      const bool constraint = r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT;
      std::string kind = object_kind(column || constraint ? r->relation_type : r->rename_type);
      std::string upper = kind;
      for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      s.tag = "ALTER " + upper;
      s.operation = s.tag + (column ? " RENAME COLUMN" : constraint ? " RENAME CONSTRAINT" : " RENAME");
      if (r->relation) {
        add_object(s, object(r->relation, kind, L::access_exclusive, facts));
      } else if (auto items = tree::list_items(r->object); items.n > 0) {
        add_object(s, named_object(items.items, items.n, kind, L::none));
      } else if (r->object && r->object->node_case == PG_QUERY__NODE__NODE_STRING) {
        ObjectRef o;
        o.kind = kind;
        o.name = str(r->object);
        add_object(s, o);
      }
      return;
    }
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT: {
      const auto* t = node->truncate_stmt;
      s.node_type = "TruncateStmt";
      s.tag = "TRUNCATE TABLE";
      s.operation = std::string("TRUNCATE") + (t->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE ? " CASCADE" : "");
      s.klass = C::maintenance;
      for (std::size_t i = 0; i < t->n_relations; ++i)
        if (const auto* r = t->relations[i]; r && r->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
          add_object(s, object(r->range_var, "table", L::access_exclusive, facts));
      return;
    }
    case PG_QUERY__NODE__NODE_VACUUM_STMT: {
      const auto* v = node->vacuum_stmt;
      s.node_type = "VacuumStmt";
      const bool full = tree::has_option(v->options, v->n_options, "full");
      s.tag = v->is_vacuumcmd ? "VACUUM" : "ANALYZE";
      s.operation = v->is_vacuumcmd ? (full ? "VACUUM FULL" : "VACUUM") : "ANALYZE";
      s.klass = C::maintenance;
      s.allowed_in_transaction = !v->is_vacuumcmd;
      s.rewrites_table = full;
      s.scans_table = true;
      const L l = full ? L::access_exclusive : L::share_update_exclusive;
      for (std::size_t i = 0; i < v->n_rels; ++i)
        if (const auto* r = v->rels[i]; r && r->node_case == PG_QUERY__NODE__NODE_VACUUM_RELATION)
          add_object(s, object(r->vacuum_relation->relation, "table", l, facts));
      if (v->n_rels == 0) s.lock = l;
      return;
    }
    case PG_QUERY__NODE__NODE_CLUSTER_STMT: {
      const auto* c = node->cluster_stmt;
      s.node_type = "ClusterStmt";
      s.tag = "CLUSTER";
      s.operation = "CLUSTER";
      s.klass = C::maintenance;
      s.rewrites_table = true;
      s.allowed_in_transaction = c->relation != nullptr;  // CLUSTER without a table cannot
      if (c->relation) add_object(s, object(c->relation, "table", L::access_exclusive, facts));
      else s.lock = L::access_exclusive;
      return;
    }
    case PG_QUERY__NODE__NODE_REINDEX_STMT: {
      const auto* r = node->reindex_stmt;
      s.node_type = "ReindexStmt";
      s.tag = "REINDEX";
      const bool conc = tree::has_option(r->params, r->n_params, "concurrently");
      s.concurrent = conc;
      s.operation = conc ? "REINDEX CONCURRENTLY" : "REINDEX";
      s.klass = C::maintenance;
      s.scans_table = true;
      const bool wide = r->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_SCHEMA ||
                        r->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_DATABASE ||
                        r->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_SYSTEM;
      s.allowed_in_transaction = !conc && !wide;
      const bool index = r->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_INDEX;
      if (r->relation) {
        // Non-concurrent: SHARE on the table (blocks writes) and ACCESS EXCLUSIVE on the index (blocks reads using it).
        add_object(s, object(r->relation, index ? "index" : "table",
                             conc ? L::share_update_exclusive : index ? L::access_exclusive : L::share, facts));
      } else {
        ObjectRef o;
        o.kind = r->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_SCHEMA ? "schema" : "database";
        o.name = cstr(r->name);
        o.lock = conc ? L::share_update_exclusive : L::share;
        add_object(s, o);
      }
      return;
    }
    case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT: {
      const auto* r = node->refresh_mat_view_stmt;
      s.node_type = "RefreshMatViewStmt";
      s.tag = "REFRESH MATERIALIZED VIEW";
      s.concurrent = r->concurrent;
      s.operation = r->concurrent ? "REFRESH MATERIALIZED VIEW CONCURRENTLY" : "REFRESH MATERIALIZED VIEW";
      s.klass = C::maintenance;
      s.rewrites_table = true;
      add_object(s, object(r->relation, "materialized view", r->concurrent ? L::exclusive : L::access_exclusive, facts));
      return;
    }
    case PG_QUERY__NODE__NODE_LOCK_STMT: {
      const auto* l = node->lock_stmt;
      s.node_type = "LockStmt";
      s.tag = "LOCK TABLE";
      s.operation = "LOCK TABLE";
      s.klass = C::maintenance;
      const L mode = l->mode >= 1 && l->mode <= 8 ? static_cast<L>(l->mode) : L::access_exclusive;
      for (std::size_t i = 0; i < l->n_relations; ++i)
        if (const auto* r = l->relations[i]; r && r->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
          add_object(s, object(r->range_var, "table", mode, facts));
      return;
    }
    case PG_QUERY__NODE__NODE_DO_STMT:
      s.node_type = "DoStmt";
      s.tag = "DO";
      s.operation = "DO";
      s.klass = C::opaque;
      s.opaque = true;
      return;
    case PG_QUERY__NODE__NODE_CALL_STMT: {
      s.node_type = "CallStmt";
      s.tag = "CALL";
      s.klass = C::opaque;
      s.opaque = true;
      const auto* f = node->call_stmt->funccall;
      s.operation = "CALL " + (f ? tree::dotted(f->funcname, f->n_funcname) : std::string());
      return;
    }
    case PG_QUERY__NODE__NODE_CREATE_TRIG_STMT:
      s.node_type = "CreateTrigStmt";
      s.tag = "CREATE TRIGGER";
      s.operation = "CREATE TRIGGER";
      s.klass = C::ddl;
      add_object(s, object(node->create_trig_stmt->relation, "table", L::share_row_exclusive, facts));
      return;
    case PG_QUERY__NODE__NODE_CREATE_POLICY_STMT:
      s.node_type = "CreatePolicyStmt";
      s.tag = "CREATE POLICY";
      s.operation = "CREATE POLICY";
      s.klass = C::ddl;
      add_object(s, object(node->create_policy_stmt->table, "table", L::access_exclusive, facts));
      return;
    case PG_QUERY__NODE__NODE_ALTER_POLICY_STMT:
      s.node_type = "AlterPolicyStmt";
      s.tag = "ALTER POLICY";
      s.operation = "ALTER POLICY";
      s.klass = C::ddl;
      add_object(s, object(node->alter_policy_stmt->table, "table", L::access_exclusive, facts));
      return;
    case PG_QUERY__NODE__NODE_CREATE_STATS_STMT:
      s.node_type = "CreateStatsStmt";
      s.tag = "CREATE STATISTICS";
      s.operation = s.tag;
      s.klass = C::ddl;
      for (std::size_t i = 0; i < node->create_stats_stmt->n_relations; ++i)
        if (const auto* r = node->create_stats_stmt->relations[i]; r && r->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
          add_object(s, object(r->range_var, "table", L::share_update_exclusive, facts));
      return;
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT: {
      const auto* a = node->alter_object_schema_stmt;
      s.node_type = "AlterObjectSchemaStmt";
      s.tag = "ALTER " + std::string(object_kind(a->object_type));
      s.operation = s.tag + " SET SCHEMA";
      s.klass = C::ddl;
      if (a->relation) add_object(s, object(a->relation, object_kind(a->object_type), L::access_exclusive, facts));
      return;
    }
    case PG_QUERY__NODE__NODE_ALTER_OWNER_STMT: {
      const auto* a = node->alter_owner_stmt;
      s.node_type = "AlterOwnerStmt";
      s.tag = "ALTER " + std::string(object_kind(a->object_type));
      s.operation = s.tag + " OWNER TO";
      s.klass = C::ddl;
      if (a->relation) add_object(s, object(a->relation, object_kind(a->object_type), L::access_exclusive, facts));
      return;
    }
    default: break;
  }
  for (const auto& g : kGeneric) {
    if (g.node_case != node->node_case) continue;
    s.node_type = g.node_type;
    s.tag = g.tag;
    s.operation = g.tag;
    s.klass = g.klass;
    s.allowed_in_transaction = g.tx_ok;
    if (node->node_case == PG_QUERY__NODE__NODE_GRANT_STMT && !node->grant_stmt->is_grant) s.tag = s.operation = "REVOKE";
    if (node->node_case == PG_QUERY__NODE__NODE_COPY_STMT && node->copy_stmt->relation)
      add_object(s, object(node->copy_stmt->relation, "table",
                           node->copy_stmt->is_from ? L::row_exclusive : L::access_share, facts));
    if (node->node_case == PG_QUERY__NODE__NODE_CREATE_SEQ_STMT)
      add_object(s, object(node->create_seq_stmt->sequence, "sequence", L::none, facts, true));
    if (node->node_case == PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT) {
      ObjectRef o;
      o.kind = "schema";
      o.name = cstr(node->create_schema_stmt->schemaname);
      o.created = true;
      add_object(s, o);
    }
    if (node->node_case == PG_QUERY__NODE__NODE_DROPDB_STMT || node->node_case == PG_QUERY__NODE__NODE_CREATEDB_STMT) {
      ObjectRef o;
      o.kind = "database";
      o.name = node->node_case == PG_QUERY__NODE__NODE_DROPDB_STMT ? cstr(node->dropdb_stmt->dbname)
                                                                    : cstr(node->createdb_stmt->dbname);
      o.created = node->node_case == PG_QUERY__NODE__NODE_CREATEDB_STMT;
      add_object(s, o);
    }
    return;
  }
  // A statement kind this build does not know (newer grammar): treat it as schema-changing.
  s.node_type = "Unknown";
  s.tag = "UNKNOWN";
  s.operation = "UNKNOWN";
  s.klass = C::ddl;
}

}  // namespace schemagate::policy
