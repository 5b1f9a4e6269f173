// ALTER TABLE (per subcommand: PostgreSQL 15's lock level, rewrite, scan) and CREATE TABLE.
#include "policy/classifier_internal.h"

namespace schemagate::policy::detail {

using tree::cstr;
using L = LockLevel;

namespace {

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

}  // namespace

void classify_alter_table(const PgQuery__AlterTableStmt* a, const CatalogFacts* facts, Statement& s,
                          std::string_view time_zone) {
  const char* kind = object_kind(a->objtype);
  s.tag = std::string("ALTER ") + (a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX      ? "INDEX"
                                   : a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_VIEW     ? "VIEW"
                                   : a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW  ? "MATERIALIZED VIEW"
                                   : a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE ? "SEQUENCE"
                                   : a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_TYPE     ? "TYPE"
                                   : a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE ? "FOREIGN TABLE"
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
        const auto tc = def ? type_change(old.value_or(""), def->type_name, def->raw_default != nullptr, time_zone,
                                          version ? version : 150000)
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
  // ALTER TYPE … ADD/DROP/ALTER ATTRIBUTE parses as column subcommands of the composite type.
  if (a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_TYPE)
    for (auto p = ops.find("COLUMN"); p != std::string::npos; p = ops.find("COLUMN", p)) ops.replace(p, 6, "ATTRIBUTE");
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

}  // namespace schemagate::policy::detail
