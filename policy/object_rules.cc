// The object rules (catalogue entries in rules.cc, reasons in docs/rules.md): statements that drop,
// rename or change the meaning of objects other than tables, columns and indexes. They judge the
// parse tree and the objects the classifier named; the rules for tables stay in rules.cc.
#include "policy/object_rules.h"

#include <protobuf-c/protobuf-c.h>

#include <algorithm>
#include <cctype>

#include "policy/pg_tree.h"
#include "policy/rule_findings.h"
#include "policy/rules.h"

namespace schemagate::policy {

using tree::cstr;

namespace {

using detail::lower;

std::string created_key(const ObjectRef& o) { return lower(o.kind + ":" + o.display()); }

using Out = detail::FindingSink;

// Created earlier in this message or file (then dropping or replacing it harms nobody).
bool fresh(const ObjectRef& o, const RuleContext& ctx) {
  if (ctx.assume_large_tables) return false;
  return ctx.objects.created.count(created_key(o)) > 0 || ctx.created_tables.count(lower(o.display())) > 0;
}

// Objects clients name in their SQL: renaming one (or moving it to another schema) breaks them.
// Indexes, constraints, triggers, policies, rules, statistics, operator classes, tablespaces and
// event triggers are named only by DDL, so their renames pass.
bool clients_name_it(PgQuery__ObjectType t) {
  switch (t) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TYPE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN:
    case PG_QUERY__OBJECT_TYPE__OBJECT_ATTRIBUTE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION:
    case PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPERATOR:
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLLATION:
    case PG_QUERY__OBJECT_TYPE__OBJECT_CONVERSION:
    case PG_QUERY__OBJECT_TYPE__OBJECT_DATABASE:    // connection strings
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROLE:        // logins (a rename also clears an MD5 password)
    case PG_QUERY__OBJECT_TYPE__OBJECT_PUBLICATION:  // subscriptions name it
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_SERVER:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSCONFIGURATION:  // to_tsvector('english', …)
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSDICTIONARY:
    case PG_QUERY__OBJECT_TYPE__OBJECT_EXTENSION:  // SET SCHEMA moves every member object
      return true;
    default: return false;
  }
}

std::string first_name(const Statement& s, std::string_view kind) {
  for (const auto& o : s.objects)
    if (o.kind == kind) return o.display();
  return s.objects.empty() ? std::string() : s.objects.front().display();
}

void check_drop(Out& e, const PgQuery__DropStmt* d, const Statement& s, const RuleContext& ctx) {
  switch (d->remove_type) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA:
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX: return;  // drop_table, drop_schema, require_concurrent_drop_index
    case PG_QUERY__OBJECT_TYPE__OBJECT_STATISTIC_EXT: return;  // planner statistics only: nothing breaks
    default: break;
  }
  const std::string kind = s.objects.empty() ? std::string("object") : s.objects.front().kind;
  for (std::size_t i = 0; i < s.objects.size(); ++i) {
    const ObjectRef& o = s.objects[i];
    if (o.kind == "table" && kind != "table") continue;  // the table of a trigger/policy/rule
    if (fresh(o, ctx)) continue;
    const std::string on = i + 1 < s.objects.size() && s.objects[i + 1].kind == "table" && o.kind != "table"
                               ? " on " + s.objects[i + 1].display()
                               : std::string();
    switch (d->remove_type) {
      case PG_QUERY__OBJECT_TYPE__OBJECT_POLICY:
        e.add("drop_policy", "dropping row-level security policy " + o.display() + on);
        break;
      case PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER:
        e.add("disable_trigger", "dropping trigger " + o.display() + on + ": what it does stops happening");
        break;
      case PG_QUERY__OBJECT_TYPE__OBJECT_EVENT_TRIGGER:
        e.add("disable_trigger", "dropping event trigger " + o.display());
        break;
      case PG_QUERY__OBJECT_TYPE__OBJECT_PUBLICATION:
        e.add("alter_publication", "dropping publication " + o.display() + ": its subscribers stop receiving changes");
        break;
      case PG_QUERY__OBJECT_TYPE__OBJECT_EXTENSION:
        e.add("drop_object", "dropping extension " + o.display() + " drops every function, type and operator in it");
        break;
      default:
        e.add("drop_object", "dropping " + o.kind + " " + o.display() + on +
                                 (d->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE ? " and everything that depends on it"
                                                                                     : ""));
        break;
    }
  }
}

void check_rename(Out& e, const PgQuery__RenameStmt* r, const Statement& s) {
  // Tables and columns: rename_table / rename_column in rules.cc.
  if (r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE || r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN) return;
  if (!clients_name_it(r->rename_type)) return;
  const std::string what = r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_ATTRIBUTE
                               ? "attribute " + first_name(s, "type") + "." + std::string(cstr(r->subname))
                               : std::string(s.objects.empty() ? "object" : s.objects.front().kind) + " " +
                                     first_name(s, "");
  e.add("rename_object", "renaming " + what + " to " + std::string(cstr(r->newname)));
}

// A boolean option's value: the grammar gives Boolean, Integer or String ("false", "off") arguments.
bool option_on(const PgQuery__DefElem* d) {
  if (!d->arg) return true;
  if (d->arg->node_case == PG_QUERY__NODE__NODE_BOOLEAN) return d->arg->boolean->boolval;
  if (d->arg->node_case == PG_QUERY__NODE__NODE_INTEGER) return d->arg->integer->ival != 0;
  const auto v = tree::str(d->arg);
  return !(v == "false" || v == "off" || v == "0" || v == "no");
}

void check_alter_sequence(Out& e, const PgQuery__AlterSeqStmt* a, const Statement& s) {
  const std::string seq = first_name(s, "sequence");
  for (std::size_t i = 0; i < a->n_options; ++i) {
    const auto* n = a->options[i];
    if (!n || n->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
    const std::string_view opt = cstr(n->def_elem->defname);
    if (opt == "restart") e.add("sequence_restart", "ALTER SEQUENCE " + seq + " RESTART hands out values again");
    else if (opt == "cycle" && option_on(n->def_elem))
      e.add("sequence_restart", "ALTER SEQUENCE " + seq + " CYCLE starts over at its minimum once it is exhausted");
    else if (opt == "as" || opt == "increment" || opt == "minvalue" || opt == "maxvalue" || opt == "owned_by")
      e.add("alter_sequence", "ALTER SEQUENCE " + seq + " changes " +
                                  (opt == "as" ? std::string("its type") : opt == "owned_by" ? std::string("its owning column")
                                                                                          : "its " + std::string(opt)));
  }
}

void check_alter_table(Out& e, const PgQuery__AlterTableStmt* a, const Statement& s) {
  const std::string t = s.objects.empty() ? std::string() : s.objects.front().display();
  const bool type = a->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_TYPE;
  for (std::size_t i = 0; i < a->n_cmds; ++i) {
    const auto* n = a->cmds[i];
    if (!n || n->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD) continue;
    const auto* cmd = n->alter_table_cmd;
    const std::string name(cstr(cmd->name));
    switch (cmd->subtype) {
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableRowSecurity:
        e.add("disable_row_security", "DISABLE ROW LEVEL SECURITY on " + t + " makes every row visible again");
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_NoForceRowSecurity:
        e.add("disable_row_security", "NO FORCE ROW LEVEL SECURITY on " + t + " exempts the table owner from its policies");
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrig:
        e.add("disable_trigger", "disabling trigger " + name + " on " + t);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigAll:
        e.add("disable_trigger", "disabling every trigger on " + t + ", foreign key checks included");
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigUser:
        e.add("disable_trigger", "disabling the user triggers on " + t);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ChangeOwner:
        e.add("change_owner", "changing the owner of " + t + ": the old owner loses its privileges on it");
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetIdentity:
        // ALTER COLUMN … RESTART [WITH n]: the identity's sequence starts over.
        for (std::size_t k = 0; cmd->def && k < tree::list_items(cmd->def).n; ++k) {
          const auto* o = tree::list_items(cmd->def).items[k];
          if (o && o->node_case == PG_QUERY__NODE__NODE_DEF_ELEM && cstr(o->def_elem->defname) == "restart")
            e.add("sequence_restart", "restarting the identity of " + t + "." + name + " hands out values again");
        }
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumnRecurse:
        if (type) e.add("alter_type_attribute", "dropping attribute " + t + "." + name);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnType:
        if (type) e.add("alter_type_attribute", "changing the type of attribute " + t + "." + name);
        break;
      default: break;
    }
  }
}

void check_alter_domain(Out& e, const PgQuery__AlterDomainStmt* a, const Statement& s) {
  const std::string d = first_name(s, "domain");
  const std::string_view sub = cstr(a->subtype);
  if (sub == "T") e.add("alter_domain_constraint", (a->def ? "setting" : "dropping") + std::string(" the default of domain ") + d);
  else if (sub == "N") e.add("alter_domain_constraint", "dropping NOT NULL from domain " + d);
  else if (sub == "O") e.add("alter_domain_constraint", "SET NOT NULL on domain " + d + " checks every column using it");
  else if (sub == "X") e.add("alter_domain_constraint", "dropping constraint " + std::string(cstr(a->name)) + " of domain " + d);
  else if (sub == "V")
    e.add("alter_domain_constraint", "validating constraint " + std::string(cstr(a->name)) + " checks every column of domain " + d);
}

// A login attribute taken away (or a password changed) locks clients out.
void check_alter_role(Out& e, const PgQuery__AlterRoleStmt* a, const Statement& s) {
  const std::string role = first_name(s, "role");
  for (std::size_t i = 0; i < a->n_options; ++i) {
    const auto* n = a->options[i];
    if (!n || n->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
    const std::string_view opt = cstr(n->def_elem->defname);
    const bool on = option_on(n->def_elem);
    if ((opt == "canlogin" || opt == "superuser" || opt == "inherit" || opt == "replication" || opt == "bypassrls" ||
         opt == "createdb" || opt == "createrole") && !on)
      e.add("revoke_privileges", "ALTER ROLE " + role + " takes away " + std::string(opt == "canlogin" ? "LOGIN" : opt));
    else if (opt == "password" || opt == "validUntil" || opt == "connectionlimit")
      e.add("revoke_privileges", "ALTER ROLE " + role + " changes " +
                                     (opt == "password" ? "its password: clients with the old one cannot connect"
                                      : opt == "validUntil" ? "when its password expires"
                                                            : "how many connections it may open"));
  }
}

void check_alter_subscription(Out& e, const PgQuery__AlterSubscriptionStmt* a, const Statement& s) {
  switch (a->kind) {
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_ADD_PUBLICATION:
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_REFRESH: return;  // receives more, loses nothing
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_ENABLED:
      if (s.operation.find("DISABLE") == std::string::npos) return;
      break;
    default: break;
  }
  e.add("alter_subscription", s.operation + " " + first_name(s, "subscription") + " changes what is replicated here");
}

// Walks every message of a parse tree (protobuf-c descriptors: no per-node code) and calls `f` on
// each A_Const string literal.
template <typename F>
void each_literal(const ProtobufCMessage* m, F&& f, int depth = 0) {
  if (!m || depth > 400) return;
  if (m->descriptor == &pg_query__a__const__descriptor) {
    const auto* c = reinterpret_cast<const PgQuery__AConst*>(m);
    if (c->val_case == PG_QUERY__A__CONST__VAL_SVAL && c->sval && c->sval->sval) f(std::string_view(c->sval->sval));
    return;
  }
  const auto* d = m->descriptor;
  const auto* base = reinterpret_cast<const char*>(m);
  for (unsigned i = 0; i < d->n_fields; ++i) {
    const ProtobufCFieldDescriptor& fd = d->fields[i];
    if (fd.type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (fd.label == PROTOBUF_C_LABEL_REPEATED) {
      const auto n = *reinterpret_cast<const size_t*>(base + fd.quantifier_offset);
      const auto* items = *reinterpret_cast<ProtobufCMessage* const* const*>(base + fd.offset);
      for (size_t k = 0; k < n; ++k) each_literal(items[k], f, depth + 1);
    } else {
      if ((fd.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *reinterpret_cast<const uint32_t*>(base + fd.quantifier_offset) != fd.id)
        continue;
      each_literal(*reinterpret_cast<const ProtobufCMessage* const*>(base + fd.offset), f, depth + 1);
    }
  }
}

void check_new_enum_labels(Out& e, const Statement& s, const RuleContext& ctx) {
  if (ctx.objects.new_enum_labels.empty() || !s.node || !ctx.transactional()) return;
  if (s.node->node_case == PG_QUERY__NODE__NODE_ALTER_ENUM_STMT) return;  // adding more labels uses none
  each_literal(&s.node->base, [&](std::string_view lit) {
    for (const auto& [type, label] : ctx.objects.new_enum_labels)
      if (lit == label)
        e.add("enum_value_used_in_transaction", "label '" + label + "' of type " + type +
                                                    " was added in this transaction and cannot be used before COMMIT");
  });
}

}  // namespace

void check_object_rules(const Statement& s, const RuleContext& ctx, std::vector<Finding>& out) {
  Out e{out};
  const PgQuery__Node* n = s.node;
  if (!n) return;
  check_new_enum_labels(e, s, ctx);
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_DROP_STMT: check_drop(e, n->drop_stmt, s, ctx); break;
    case PG_QUERY__NODE__NODE_DROP_ROLE_STMT:
      for (const auto& o : s.objects) e.add("drop_object", "dropping role " + o.display() + ": it can no longer connect");
      break;
    case PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT:
      e.add("alter_subscription", "dropping subscription " + first_name(s, "subscription") + " and its replication slot");
      break;
    case PG_QUERY__NODE__NODE_RENAME_STMT: check_rename(e, n->rename_stmt, s); break;
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT: {
      const auto t = n->alter_object_schema_stmt->object_type;
      const std::string to = " to schema " + std::string(cstr(n->alter_object_schema_stmt->newschema));
      if (t == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE)
        e.add("rename_table", "moving table " + first_name(s, "table") + to + ": its qualified name changes");
      else if (clients_name_it(t))
        e.add("rename_object", "moving " + (s.objects.empty() ? std::string("object") : s.objects.front().kind + " " +
                                                                                       s.objects.front().display()) + to);
      break;
    }
    case PG_QUERY__NODE__NODE_ALTER_OWNER_STMT:
      e.add("change_owner", "changing the owner of " + (s.objects.empty() ? std::string("an object")
                                                                         : s.objects.front().kind + " " + s.objects.front().display()) +
                                ": the old owner loses its privileges on it");
      break;
    case PG_QUERY__NODE__NODE_REASSIGN_OWNED_STMT:
      e.add("change_owner", "REASSIGN OWNED gives every object of " + first_name(s, "role") + " to " +
                                (n->reassign_owned_stmt->newrole ? std::string(cstr(n->reassign_owned_stmt->newrole->rolename))
                                                                 : std::string("another role")));
      break;
    case PG_QUERY__NODE__NODE_DROP_OWNED_STMT:
      e.add("drop_owned", "DROP OWNED BY " + first_name(s, "role") + " drops everything it owns in this database");
      break;
    case PG_QUERY__NODE__NODE_VIEW_STMT:
      if (n->view_stmt->replace && !s.objects.empty() && !fresh(s.objects.front(), ctx))
        e.add("replace_view", "CREATE OR REPLACE VIEW " + s.objects.front().display() + " changes what its readers get");
      break;
    case PG_QUERY__NODE__NODE_ALTER_ENUM_STMT: {
      const auto* a = n->alter_enum_stmt;
      const std::string type = first_name(s, "type");
      if (!cstr(a->old_val).empty())
        e.add("alter_enum_rename_value", "renaming label '" + std::string(a->old_val) + "' of type " + type + " to '" +
                                             std::string(cstr(a->new_val)) + "'");
      else if (ctx.transactional() && ctx.server_version_num < 120000)
        e.add("transaction_block_forbidden", "ALTER TYPE … ADD VALUE cannot run inside a transaction block before PostgreSQL 12");
      break;
    }
    case PG_QUERY__NODE__NODE_ALTER_DOMAIN_STMT: check_alter_domain(e, n->alter_domain_stmt, s); break;
    case PG_QUERY__NODE__NODE_ALTER_SEQ_STMT: check_alter_sequence(e, n->alter_seq_stmt, s); break;
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT: check_alter_table(e, n->alter_table_stmt, s); break;
    case PG_QUERY__NODE__NODE_ALTER_POLICY_STMT:
      e.add("alter_policy", "ALTER POLICY " + first_name(s, "policy") + " on " + first_name(s, "table") +
                                " changes which rows it admits");
      break;
    case PG_QUERY__NODE__NODE_ALTER_PUBLICATION_STMT: {
      const auto* a = n->alter_publication_stmt;
      // ADD publishes more and loses nothing (SET (options) has no objects and also reads as ADD).
      if (a->action == PG_QUERY__ALTER_PUBLICATION_ACTION__AP_AddObjects && a->n_pubobjects > 0) break;
      e.add("alter_publication", s.operation + " " + first_name(s, "publication") +
                                     " changes what its subscribers receive");
      break;
    }
    case PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT: check_alter_subscription(e, n->alter_subscription_stmt, s); break;
    case PG_QUERY__NODE__NODE_ALTER_EXTENSION_STMT:
      e.add("alter_extension", s.operation + " on " + first_name(s, "extension") + " runs its upgrade scripts");
      break;
    case PG_QUERY__NODE__NODE_GRANT_STMT:
      if (!n->grant_stmt->is_grant) e.add("revoke_privileges", "REVOKE takes privileges away from running clients");
      break;
    case PG_QUERY__NODE__NODE_GRANT_ROLE_STMT:
      if (!n->grant_role_stmt->is_grant) e.add("revoke_privileges", "REVOKE of role membership takes its privileges away");
      break;
    case PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT:
      if (n->alter_default_privileges_stmt->action && !n->alter_default_privileges_stmt->action->is_grant)
        e.add("revoke_privileges", "ALTER DEFAULT PRIVILEGES … REVOKE: new objects will lack the privilege");
      break;
    case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT: check_alter_role(e, n->alter_role_stmt, s); break;
    case PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT: e.add("alter_system", "ALTER SYSTEM changes the server's configuration"); break;
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT:
      if (n->alter_database_stmt->n_options > 0)
        e.add("alter_system", s.operation + " on database " + first_name(s, "database"));
      break;
    case PG_QUERY__NODE__NODE_ALTER_EVENT_TRIG_STMT:
      if (s.operation.find("DISABLE") != std::string::npos)
        e.add("disable_trigger", "disabling event trigger " + first_name(s, "event trigger"));
      break;
    default: break;
  }
}

void update_object_context(const Statement& s, RuleContext& ctx) {
  const PgQuery__Node* n = s.node;
  if (!n) return;
  for (const auto& o : s.objects)
    if (o.created) ctx.objects.created.insert(created_key(o));
  if (n->node_case == PG_QUERY__NODE__NODE_TRANSACTION_STMT) {
    const auto k = n->transaction_stmt->kind;
    if (k == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT || k == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK ||
        k == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE)
      ctx.objects.new_enum_labels.clear();
  }
  // Outside a transaction block ADD VALUE commits at once: the label is usable right away.
  if (n->node_case == PG_QUERY__NODE__NODE_ALTER_ENUM_STMT && ctx.transactional() &&
      cstr(n->alter_enum_stmt->old_val).empty() && !cstr(n->alter_enum_stmt->new_val).empty())
    ctx.objects.new_enum_labels.emplace_back(first_name(s, "type"), n->alter_enum_stmt->new_val);
}

}  // namespace schemagate::policy
