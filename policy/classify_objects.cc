// Statements about objects other than tables and indexes: DROP, RENAME, SET SCHEMA, OWNER TO,
// enums, domains, sequences, views, policies, triggers, rules, publications, subscriptions,
// extensions, privileges, roles, ALTER SYSTEM / DATABASE, COMMENT and SECURITY LABEL.
//
// Locks are PostgreSQL 15's, checked with pg_locks on a 15.18 server (BEGIN; statement; read
// pg_locks; ROLLBACK): only table-level locks are recorded (ObjectRef::lock); locks on catalogue
// objects (a type, a function) block only other DDL on that object and are left out.
#include "policy/classifier_internal.h"

namespace schemagate::policy::detail {

using tree::cstr;
using tree::str;
using C = StatementClass;
using L = LockLevel;

namespace {

void set_tag(Statement& s, const char* node_type, std::string tag, std::string operation = {}) {
  s.node_type = node_type;
  s.tag = std::move(tag);
  s.operation = operation.empty() ? s.tag : std::move(operation);
  s.klass = C::ddl;
}

ObjectRef simple(std::string kind, std::string_view name, L lock = L::none, bool created = false) {
  ObjectRef o;
  o.kind = std::move(kind);
  o.name = std::string(name);
  o.lock = lock;
  o.created = created;
  return o;
}

std::string role_name(const PgQuery__RoleSpec* r) {
  if (!r) return {};
  switch (r->roletype) {
    case PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_CURRENT_ROLE: return "CURRENT_ROLE";
    case PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_CURRENT_USER: return "CURRENT_USER";
    case PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_SESSION_USER: return "SESSION_USER";
    case PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_PUBLIC: return "PUBLIC";
    default: return std::string(cstr(r->rolename));
  }
}

void add_roles(Statement& s, PgQuery__Node* const* items, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (items[i] && items[i]->node_case == PG_QUERY__NODE__NODE_ROLE_SPEC)
      add_object(s, simple("role", role_name(items[i]->role_spec)));
}

// Triggers, policies and rules belong to a table: their lists name [schema.]table.object.
bool is_table_subobject(PgQuery__ObjectType t) {
  return t == PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER || t == PG_QUERY__OBJECT_TYPE__OBJECT_POLICY ||
         t == PG_QUERY__OBJECT_TYPE__OBJECT_RULE || t == PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT;
}

// The object(s) of a generic `object` node (DROP, COMMENT, SECURITY LABEL, SET SCHEMA, OWNER TO,
// RENAME): a List of names, a String (schema, extension, role, …), ObjectWithArgs (function,
// operator, aggregate), TypeName (type, domain), or [TypeName, TypeName] (cast, transform).
// `rel_lock` is the lock on a relation (or on the table of a trigger/policy/rule/constraint).
void add_generic(Statement& s, const PgQuery__Node* o, PgQuery__ObjectType type, L rel_lock, const CatalogFacts* facts) {
  const char* kind = object_kind(type);
  const bool rel = is_relation_kind(type);
  if (!o) return;
  if (auto items = tree::list_items(o); items.n > 0) {
    const auto first = items.items[0];
    if (first && first->node_case == PG_QUERY__NODE__NODE_TYPE_NAME) {  // CAST (a AS b), TRANSFORM FOR t
      ObjectRef r = simple(kind, tree::type_base(first->type_name));
      if (items.n > 1 && items.items[1] && items.items[1]->node_case == PG_QUERY__NODE__NODE_TYPE_NAME)
        r.name += " AS " + tree::type_base(items.items[1]->type_name);
      add_object(s, std::move(r));
      return;
    }
    if (is_table_subobject(type) || type == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN) {
      // [schema, ]table, name: the table carries the lock, the sub-object is named for messages.
      auto parts = tree::names(items.items, items.n);
      if (parts.empty()) return;
      ObjectRef sub = simple(kind, parts.back());
      parts.pop_back();
      ObjectRef table = simple("table", parts.empty() ? std::string() : parts.back(), rel_lock);
      if (parts.size() >= 2) table.schema = parts[parts.size() - 2];
      if (table.schema.empty() && facts && !table.name.empty())
        if (auto sch = facts->resolve_schema(table.name)) table.schema = *sch;
      if (type != PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN) add_object(s, std::move(sub));
      add_object(s, std::move(table));
      return;
    }
    ObjectRef r = named_object(items.items, items.n, kind, rel ? rel_lock : L::none);
    if (rel && r.schema.empty() && facts)
      if (auto sch = facts->resolve_schema(r.name)) r.schema = *sch;
    add_object(s, std::move(r));
  } else if (o->node_case == PG_QUERY__NODE__NODE_STRING) {
    add_object(s, simple(kind, str(o)));
  } else if (o->node_case == PG_QUERY__NODE__NODE_OBJECT_WITH_ARGS) {
    add_object(s, named_object(o->object_with_args->objname, o->object_with_args->n_objname, kind, L::none));
  } else if (o->node_case == PG_QUERY__NODE__NODE_TYPE_NAME) {
    add_object(s, named_object(o->type_name->names, o->type_name->n_names, kind, L::none));
  } else {
    add_object(s, simple(kind, ""));
  }
}

void classify_drop(const PgQuery__DropStmt* d, const CatalogFacts* facts, Statement& s) {
  set_tag(s, "DropStmt", "DROP " + upper(object_kind(d->remove_type)));
  s.concurrent = d->concurrent;
  s.operation = s.tag + (d->concurrent ? " CONCURRENTLY" : "") +
                (d->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE ? " CASCADE" : "");
  s.allowed_in_transaction = !d->concurrent;
  // Relations, and the table of a trigger/policy/rule: ACCESS EXCLUSIVE. DROP INDEX CONCURRENTLY:
  // SHARE UPDATE EXCLUSIVE. A composite type is a relation too (DROP TYPE takes ACCESS EXCLUSIVE
  // on it), but only the statement's own types are named, so types keep none.
  const L lock = d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX && d->concurrent ? L::share_update_exclusive
                                                                                         : L::access_exclusive;
  for (std::size_t i = 0; i < d->n_objects; ++i) add_generic(s, d->objects[i], d->remove_type, lock, facts);
}

// The kind whose ALTER command a RENAME belongs to: RENAME COLUMN of a view is ALTER VIEW, RENAME
// ATTRIBUTE is ALTER TYPE, a domain constraint's is ALTER DOMAIN.
PgQuery__ObjectType rename_owner_kind(const PgQuery__RenameStmt* r) {
  switch (r->rename_type) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT: return r->relation_type;
    case PG_QUERY__OBJECT_TYPE__OBJECT_ATTRIBUTE: return PG_QUERY__OBJECT_TYPE__OBJECT_TYPE;
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMCONSTRAINT: return PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN;
    default: return r->rename_type;
  }
}

void classify_rename(const PgQuery__RenameStmt* r, const CatalogFacts* facts, Statement& s) {
  const PgQuery__ObjectType owner = rename_owner_kind(r);
  std::string what;
  switch (r->rename_type) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN: what = " RENAME COLUMN"; break;
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT:
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMCONSTRAINT: what = " RENAME CONSTRAINT"; break;
    case PG_QUERY__OBJECT_TYPE__OBJECT_ATTRIBUTE: what = " RENAME ATTRIBUTE"; break;
    default: what = " RENAME"; break;
  }
  set_tag(s, "RenameStmt", "ALTER " + upper(object_kind(owner)));
  s.operation = s.tag + what;
  if (r->relation) {
    // ALTER INDEX … RENAME takes SHARE UPDATE EXCLUSIVE since PostgreSQL 12; every other rename of
    // a relation, its columns, constraints, triggers, policies and rules ACCESS EXCLUSIVE.
    const bool index = r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX;
    const bool sub = is_table_subobject(r->rename_type) && r->rename_type != PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT;
    if (sub && r->subname) add_object(s, simple(object_kind(r->rename_type), cstr(r->subname)));
    add_object(s, object(r->relation, sub ? "table" : object_kind(owner),
                         index ? L::share_update_exclusive : L::access_exclusive, facts));
  } else if (r->object) {
    add_generic(s, r->object, owner, L::access_exclusive, facts);
  } else {
    // Schemas, databases, roles, tablespaces: the old name is in subname.
    add_object(s, simple(object_kind(owner), cstr(r->subname)));
  }
}

// A DefElem list option by name, or nullptr.
const PgQuery__DefElem* option(PgQuery__Node* const* items, std::size_t n, std::string_view name) {
  for (std::size_t i = 0; i < n; ++i)
    if (items[i] && items[i]->node_case == PG_QUERY__NODE__NODE_DEF_ELEM && cstr(items[i]->def_elem->defname) == name)
      return items[i]->def_elem;
  return nullptr;
}

// A boolean option's value: the grammar gives Boolean, Integer or String ("false", "off") arguments.
bool option_true(const PgQuery__DefElem* d, bool absent) {
  if (!d) return absent;
  const auto* a = d->arg;
  if (!a) return true;
  if (a->node_case == PG_QUERY__NODE__NODE_BOOLEAN) return a->boolean->boolval;
  if (a->node_case == PG_QUERY__NODE__NODE_INTEGER) return a->integer->ival != 0;
  const auto v = str(a);
  return !(v == "false" || v == "off" || v == "0" || v == "no");
}

void classify_alter_sequence(const PgQuery__AlterSeqStmt* a, const CatalogFacts* facts, Statement& s) {
  set_tag(s, "AlterSeqStmt", "ALTER SEQUENCE");
  std::string ops;
  for (std::size_t i = 0; i < a->n_options; ++i)
    if (a->options[i] && a->options[i]->node_case == PG_QUERY__NODE__NODE_DEF_ELEM)
      ops += (ops.empty() ? " " : ", ") + upper(std::string(cstr(a->options[i]->def_elem->defname)));
  s.operation += ops;
  // SHARE ROW EXCLUSIVE on the sequence: nextval() (ROW EXCLUSIVE) waits behind it.
  add_object(s, object(a->sequence, "sequence", L::share_row_exclusive, facts));
  if (const auto* o = option(a->options, a->n_options, "owned_by"); o && o->arg) {
    auto items = tree::list_items(o->arg);
    auto parts = tree::names(items.items, items.n);
    if (parts.size() >= 2) {  // [schema.]table.column; OWNED BY NONE is one name
      ObjectRef t = simple("table", parts[parts.size() - 2], L::access_share);
      if (parts.size() >= 3) t.schema = parts[parts.size() - 3];
      add_object(s, std::move(t));
    }
  }
}

void classify_alter_domain(const PgQuery__AlterDomainStmt* a, Statement& s) {
  set_tag(s, "AlterDomainStmt", "ALTER DOMAIN");
  const std::string_view sub = cstr(a->subtype);
  bool validates = false;
  if (sub == "T") s.operation += a->def ? " SET DEFAULT" : " DROP DEFAULT";
  else if (sub == "N") s.operation += " DROP NOT NULL";
  else if (sub == "O") s.operation += " SET NOT NULL", validates = true;
  else if (sub == "X") s.operation += " DROP CONSTRAINT";
  else if (sub == "V") s.operation += " VALIDATE CONSTRAINT", validates = true;
  else if (sub == "C") {
    s.operation += " ADD CONSTRAINT";
    validates = !(a->def && a->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT && a->def->constraint->skip_validation);
  }
  add_object(s, named_object(a->type_name, a->n_type_name, "domain", L::none));
  // Checking the domain's columns takes SHARE on every table that has one (not nameable here).
  if (validates) {
    s.scans_table = true;
    s.lock = L::share;
  }
}

void classify_alter_publication(const PgQuery__AlterPublicationStmt* a, const CatalogFacts* facts, Statement& s) {
  set_tag(s, "AlterPublicationStmt", "ALTER PUBLICATION");
  // SET (options) has no objects; its action field is left at 0, which reads as ADD.
  switch (a->n_pubobjects == 0 ? PG_QUERY__ALTER_PUBLICATION_ACTION__ALTER_PUBLICATION_ACTION_UNDEFINED : a->action) {
    case PG_QUERY__ALTER_PUBLICATION_ACTION__AP_AddObjects: s.operation += " ADD"; break;
    case PG_QUERY__ALTER_PUBLICATION_ACTION__AP_DropObjects: s.operation += " DROP"; break;
    case PG_QUERY__ALTER_PUBLICATION_ACTION__AP_SetObjects: s.operation += a->n_pubobjects ? " SET" : " SET (options)"; break;
    default: s.operation += " SET (options)"; break;
  }
  add_object(s, simple("publication", cstr(a->pubname)));
  // Tables added, dropped or set: SHARE UPDATE EXCLUSIVE each.
  for (std::size_t i = 0; i < a->n_pubobjects; ++i) {
    const auto* o = a->pubobjects[i];
    if (!o || o->node_case != PG_QUERY__NODE__NODE_PUBLICATION_OBJ_SPEC) continue;
    const auto* spec = o->publication_obj_spec;
    if (spec->pubtable && spec->pubtable->relation)
      add_object(s, object(spec->pubtable->relation, "table", L::share_update_exclusive, facts));
    else if (spec->pubobjtype == PG_QUERY__PUBLICATION_OBJ_SPEC_TYPE__PUBLICATIONOBJ_TABLES_IN_SCHEMA)
      add_object(s, simple("schema", cstr(spec->name)));
  }
}

void classify_alter_subscription(const PgQuery__AlterSubscriptionStmt* a, Statement& s) {
  set_tag(s, "AlterSubscriptionStmt", "ALTER SUBSCRIPTION");
  const bool refresh_off = !option_true(option(a->options, a->n_options, "refresh"), true);
  switch (a->kind) {
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_OPTIONS: s.operation += " SET (options)"; break;
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_CONNECTION: s.operation += " CONNECTION"; break;
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_SET_PUBLICATION: s.operation += " SET PUBLICATION"; break;
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_ADD_PUBLICATION: s.operation += " ADD PUBLICATION"; break;
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_DROP_PUBLICATION: s.operation += " DROP PUBLICATION"; break;
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_REFRESH: s.operation += " REFRESH PUBLICATION"; break;
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_ENABLED: {
      s.operation += option_true(option(a->options, a->n_options, "enabled"), false) ? " ENABLE" : " DISABLE";
      break;
    }
    case PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_SKIP: s.operation += " SKIP"; break;
    default: break;
  }
  // subscriptioncmds.c: REFRESH, and SET/ADD/DROP PUBLICATION with refresh (the default), call
  // PreventInTransactionBlock.
  const bool pub = a->kind == PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_SET_PUBLICATION ||
                   a->kind == PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_ADD_PUBLICATION ||
                   a->kind == PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_DROP_PUBLICATION;
  if (a->kind == PG_QUERY__ALTER_SUBSCRIPTION_TYPE__ALTER_SUBSCRIPTION_REFRESH || (pub && !refresh_off))
    s.allowed_in_transaction = false;
  add_object(s, simple("subscription", cstr(a->subname)));
}

void classify_grant(const PgQuery__GrantStmt* g, const CatalogFacts* facts, Statement& s, const char* node_type) {
  set_tag(s, node_type, g->is_grant ? "GRANT" : "REVOKE");
  // GRANT/REVOKE resolve their objects with NoLock: no table lock at all.
  if (g->targtype != PG_QUERY__GRANT_TARGET_TYPE__ACL_TARGET_OBJECT) return;
  for (std::size_t i = 0; i < g->n_objects; ++i) {
    const auto* o = g->objects[i];
    if (o && o->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
      add_object(s, object(o->range_var, object_kind(g->objtype), L::none, facts));
    else
      add_generic(s, o, g->objtype, L::none, facts);
  }
}

void classify_comment(PgQuery__ObjectType type, const PgQuery__Node* obj, const CatalogFacts* facts, Statement& s) {
  // COMMENT and SECURITY LABEL take SHARE UPDATE EXCLUSIVE on a relation they describe (or on the
  // table of a column, constraint, trigger, policy or rule).
  add_generic(s, obj, type, L::share_update_exclusive, facts);
}

}  // namespace

bool classify_object_statement(const PgQuery__Node* node, const CatalogFacts* facts, Statement& s) {
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_DROP_STMT: classify_drop(node->drop_stmt, facts, s); return true;
    case PG_QUERY__NODE__NODE_RENAME_STMT: classify_rename(node->rename_stmt, facts, s); return true;
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT: {
      const auto* a = node->alter_object_schema_stmt;
      set_tag(s, "AlterObjectSchemaStmt", "ALTER " + upper(object_kind(a->object_type)));
      s.operation = s.tag + " SET SCHEMA";
      if (a->relation) add_object(s, object(a->relation, object_kind(a->object_type), L::access_exclusive, facts));
      else add_generic(s, a->object, a->object_type, L::access_exclusive, facts);
      return true;
    }
    case PG_QUERY__NODE__NODE_ALTER_OWNER_STMT: {
      const auto* a = node->alter_owner_stmt;
      set_tag(s, "AlterOwnerStmt", "ALTER " + upper(object_kind(a->object_type)));
      s.operation = s.tag + " OWNER TO";
      if (a->relation) add_object(s, object(a->relation, object_kind(a->object_type), L::access_exclusive, facts));
      else add_generic(s, a->object, a->object_type, L::none, facts);
      return true;
    }
    case PG_QUERY__NODE__NODE_VIEW_STMT: {
      const auto* v = node->view_stmt;
      set_tag(s, "ViewStmt", "CREATE VIEW", v->replace ? "CREATE OR REPLACE VIEW" : "CREATE VIEW");
      // OR REPLACE: ACCESS EXCLUSIVE on the existing view (plain CREATE: the view is new).
      add_object(s, object(v->view, "view", v->replace ? L::access_exclusive : L::none, facts, !v->replace));
      return true;
    }
    case PG_QUERY__NODE__NODE_ALTER_ENUM_STMT: {
      const auto* a = node->alter_enum_stmt;
      const bool rename = !cstr(a->old_val).empty();
      set_tag(s, "AlterEnumStmt", "ALTER TYPE", rename ? "ALTER TYPE RENAME VALUE" : "ALTER TYPE ADD VALUE");
      // Only pg_enum rows change: no table lock. (Inside a transaction block only from PG 12.)
      add_object(s, named_object(a->type_name, a->n_type_name, "type", L::none));
      return true;
    }
    case PG_QUERY__NODE__NODE_ALTER_DOMAIN_STMT: classify_alter_domain(node->alter_domain_stmt, s); return true;
    case PG_QUERY__NODE__NODE_ALTER_SEQ_STMT: classify_alter_sequence(node->alter_seq_stmt, facts, s); return true;
    case PG_QUERY__NODE__NODE_CREATE_TRIG_STMT: {
      const auto* t = node->create_trig_stmt;
      set_tag(s, "CreateTrigStmt", "CREATE TRIGGER",
              std::string("CREATE ") + (t->replace ? "OR REPLACE " : "") + (t->isconstraint ? "CONSTRAINT " : "") + "TRIGGER");
      add_object(s, object(t->relation, "table", L::share_row_exclusive, facts));
      if (!t->replace) add_object(s, simple("trigger", cstr(t->trigname), L::none, true));
      return true;
    }
    case PG_QUERY__NODE__NODE_CREATE_POLICY_STMT:
      set_tag(s, "CreatePolicyStmt", "CREATE POLICY");
      add_object(s, object(node->create_policy_stmt->table, "table", L::access_exclusive, facts));
      add_object(s, simple("policy", cstr(node->create_policy_stmt->policy_name), L::none, true));
      return true;
    case PG_QUERY__NODE__NODE_ALTER_POLICY_STMT:
      set_tag(s, "AlterPolicyStmt", "ALTER POLICY");
      add_object(s, object(node->alter_policy_stmt->table, "table", L::access_exclusive, facts));
      add_object(s, simple("policy", cstr(node->alter_policy_stmt->policy_name)));
      return true;
    case PG_QUERY__NODE__NODE_RULE_STMT:
      set_tag(s, "RuleStmt", "CREATE RULE", node->rule_stmt->replace ? "CREATE OR REPLACE RULE" : "CREATE RULE");
      add_object(s, object(node->rule_stmt->relation, "table", L::access_exclusive, facts));
      return true;
    case PG_QUERY__NODE__NODE_CREATE_PUBLICATION_STMT: {
      const auto* p = node->create_publication_stmt;
      set_tag(s, "CreatePublicationStmt", "CREATE PUBLICATION");
      add_object(s, simple("publication", cstr(p->pubname), L::none, true));
      for (std::size_t i = 0; i < p->n_pubobjects; ++i)
        if (const auto* o = p->pubobjects[i]; o && o->node_case == PG_QUERY__NODE__NODE_PUBLICATION_OBJ_SPEC &&
                                              o->publication_obj_spec->pubtable && o->publication_obj_spec->pubtable->relation)
          add_object(s, object(o->publication_obj_spec->pubtable->relation, "table", L::share_update_exclusive, facts));
      return true;
    }
    case PG_QUERY__NODE__NODE_ALTER_PUBLICATION_STMT:
      classify_alter_publication(node->alter_publication_stmt, facts, s);
      return true;
    case PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT: classify_alter_subscription(node->alter_subscription_stmt, s); return true;
    case PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT:
      // Cannot run in a transaction block while it drops the replication slot (the default).
      set_tag(s, "DropSubscriptionStmt", "DROP SUBSCRIPTION");
      s.allowed_in_transaction = false;
      add_object(s, simple("subscription", cstr(node->drop_subscription_stmt->subname)));
      return true;
    case PG_QUERY__NODE__NODE_ALTER_EXTENSION_STMT: {
      const auto* a = node->alter_extension_stmt;
      set_tag(s, "AlterExtensionStmt", "ALTER EXTENSION", "ALTER EXTENSION UPDATE");
      if (const auto* v = option(a->options, a->n_options, "new_version"); v && v->arg)
        s.operation += " TO " + std::string(str(v->arg));
      add_object(s, simple("extension", cstr(a->extname)));
      return true;
    }
    case PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT:
      set_tag(s, "CreateExtensionStmt", "CREATE EXTENSION");
      add_object(s, simple("extension", cstr(node->create_extension_stmt->extname), L::none, true));
      return true;
    case PG_QUERY__NODE__NODE_DROP_OWNED_STMT:
      // ACCESS EXCLUSIVE on every table the roles own (pg_locks shows it); which ones is not known here.
      set_tag(s, "DropOwnedStmt", "DROP OWNED");
      add_roles(s, node->drop_owned_stmt->roles, node->drop_owned_stmt->n_roles);
      s.lock = L::access_exclusive;
      return true;
    case PG_QUERY__NODE__NODE_REASSIGN_OWNED_STMT:
      set_tag(s, "ReassignOwnedStmt", "REASSIGN OWNED");
      add_roles(s, node->reassign_owned_stmt->roles, node->reassign_owned_stmt->n_roles);
      s.lock = L::access_exclusive;  // like ALTER TABLE … OWNER TO on each owned table
      return true;
    case PG_QUERY__NODE__NODE_GRANT_STMT: classify_grant(node->grant_stmt, facts, s, "GrantStmt"); return true;
    case PG_QUERY__NODE__NODE_GRANT_ROLE_STMT: {
      const auto* g = node->grant_role_stmt;
      set_tag(s, "GrantRoleStmt", g->is_grant ? "GRANT ROLE" : "REVOKE ROLE");
      for (std::size_t i = 0; i < g->n_granted_roles; ++i)
        if (const auto* r = g->granted_roles[i]; r && r->node_case == PG_QUERY__NODE__NODE_ACCESS_PRIV)
          add_object(s, simple("role", cstr(r->access_priv->priv_name)));
      add_roles(s, g->grantee_roles, g->n_grantee_roles);
      return true;
    }
    case PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT: {
      const auto* a = node->alter_default_privileges_stmt;
      set_tag(s, "AlterDefaultPrivilegesStmt", "ALTER DEFAULT PRIVILEGES",
              std::string("ALTER DEFAULT PRIVILEGES ") + (a->action && !a->action->is_grant ? "REVOKE" : "GRANT"));
      return true;
    }
    case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT:
      set_tag(s, "AlterRoleStmt", "ALTER ROLE");
      add_object(s, simple("role", role_name(node->alter_role_stmt->role)));
      return true;
    case PG_QUERY__NODE__NODE_DROP_ROLE_STMT:
      set_tag(s, "DropRoleStmt", "DROP ROLE");
      add_roles(s, node->drop_role_stmt->roles, node->drop_role_stmt->n_roles);
      return true;
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT: {
      const auto* a = node->alter_database_stmt;
      set_tag(s, "AlterDatabaseStmt", "ALTER DATABASE");
      for (std::size_t i = 0; i < a->n_options; ++i)
        if (a->options[i] && a->options[i]->node_case == PG_QUERY__NODE__NODE_DEF_ELEM)
          s.operation += " " + upper(std::string(cstr(a->options[i]->def_elem->defname)));
      // SET TABLESPACE copies the database's files: PreventInTransactionBlock (dbcommands.c movedb).
      if (option(a->options, a->n_options, "tablespace")) s.allowed_in_transaction = false;
      add_object(s, simple("database", cstr(a->dbname)));
      return true;
    }
    case PG_QUERY__NODE__NODE_COMMENT_STMT:
      set_tag(s, "CommentStmt", "COMMENT");
      classify_comment(node->comment_stmt->objtype, node->comment_stmt->object, facts, s);
      return true;
    case PG_QUERY__NODE__NODE_SEC_LABEL_STMT:
      set_tag(s, "SecLabelStmt", "SECURITY LABEL");
      classify_comment(node->sec_label_stmt->objtype, node->sec_label_stmt->object, facts, s);
      return true;
    case PG_QUERY__NODE__NODE_ALTER_EVENT_TRIG_STMT: {
      const auto e = cstr(node->alter_event_trig_stmt->tgenabled);
      set_tag(s, "AlterEventTrigStmt", "ALTER EVENT TRIGGER",
              e == "D" ? "ALTER EVENT TRIGGER DISABLE" : "ALTER EVENT TRIGGER ENABLE");
      add_object(s, simple("event trigger", cstr(node->alter_event_trig_stmt->trigname)));
      return true;
    }
    // New objects: named, so that a later DROP of the same message or file knows them.
    case PG_QUERY__NODE__NODE_CREATE_ENUM_STMT:
      set_tag(s, "CreateEnumStmt", "CREATE TYPE");
      add_object(s, named_object(node->create_enum_stmt->type_name, node->create_enum_stmt->n_type_name, "type", L::none, true));
      return true;
    case PG_QUERY__NODE__NODE_CREATE_RANGE_STMT:
      set_tag(s, "CreateRangeStmt", "CREATE TYPE");
      add_object(s, named_object(node->create_range_stmt->type_name, node->create_range_stmt->n_type_name, "type", L::none, true));
      return true;
    case PG_QUERY__NODE__NODE_COMPOSITE_TYPE_STMT:
      set_tag(s, "CompositeTypeStmt", "CREATE TYPE");
      add_object(s, object(node->composite_type_stmt->typevar, "type", L::none, facts, true));
      return true;
    case PG_QUERY__NODE__NODE_CREATE_DOMAIN_STMT:
      set_tag(s, "CreateDomainStmt", "CREATE DOMAIN");
      add_object(s, named_object(node->create_domain_stmt->domainname, node->create_domain_stmt->n_domainname, "domain",
                                 L::none, true));
      return true;
    case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT: {
      const auto* f = node->create_function_stmt;
      const char* kind = f->is_procedure ? "procedure" : "function";
      set_tag(s, "CreateFunctionStmt", f->is_procedure ? "CREATE PROCEDURE" : "CREATE FUNCTION",
              std::string("CREATE ") + (f->replace ? "OR REPLACE " : "") + upper(kind));
      // OR REPLACE may replace an existing one: not "created" as far as later statements know.
      add_object(s, named_object(f->funcname, f->n_funcname, kind, L::none, !f->replace));
      return true;
    }
    default: return false;
  }
}

}  // namespace schemagate::policy::detail
