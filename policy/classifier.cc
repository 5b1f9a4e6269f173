// The classifier's entry point: one case per statement kind, or a row of kGeneric. ALTER TABLE,
// CREATE TABLE, object statements and column facts live in classify_*.cc.
#include "policy/classifier.h"

#include <cctype>

#include "policy/classifier_internal.h"

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


namespace detail {

using L = LockLevel;

ObjectRef object(const PgQuery__RangeVar* rv, std::string kind, L lock, const CatalogFacts* facts, bool created) {
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

ObjectRef named_object(PgQuery__Node* const* items, std::size_t n, std::string kind, L lock, bool created) {
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

// Spelled as in PostgreSQL's command tags, so that "DROP " + upper(kind) is the tag.
const char* object_kind(PgQuery__ObjectType t) {
  switch (t) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_ACCESS_METHOD: return "access method";
    case PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE: return "aggregate";
    case PG_QUERY__OBJECT_TYPE__OBJECT_AMOP: return "operator of access method";
    case PG_QUERY__OBJECT_TYPE__OBJECT_AMPROC: return "function of access method";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ATTRIBUTE: return "attribute";
    case PG_QUERY__OBJECT_TYPE__OBJECT_CAST: return "cast";
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN: return "column";
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLLATION: return "collation";
    case PG_QUERY__OBJECT_TYPE__OBJECT_CONVERSION: return "conversion";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DATABASE: return "database";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DEFAULT: return "default";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DEFACL: return "default privileges";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN: return "domain";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMCONSTRAINT: return "domain constraint";
    case PG_QUERY__OBJECT_TYPE__OBJECT_EVENT_TRIGGER: return "event trigger";
    case PG_QUERY__OBJECT_TYPE__OBJECT_EXTENSION: return "extension";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FDW: return "foreign data wrapper";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_SERVER: return "server";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE: return "foreign table";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION: return "function";
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX: return "index";
    case PG_QUERY__OBJECT_TYPE__OBJECT_LANGUAGE: return "language";
    case PG_QUERY__OBJECT_TYPE__OBJECT_LARGEOBJECT: return "large object";
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW: return "materialized view";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPCLASS: return "operator class";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPERATOR: return "operator";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPFAMILY: return "operator family";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PARAMETER_ACL: return "parameter";
    case PG_QUERY__OBJECT_TYPE__OBJECT_POLICY: return "policy";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE: return "procedure";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PUBLICATION: return "publication";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PUBLICATION_NAMESPACE: return "publication schema";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PUBLICATION_REL: return "publication table";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROLE: return "role";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE: return "routine";
    case PG_QUERY__OBJECT_TYPE__OBJECT_RULE: return "rule";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA: return "schema";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE: return "sequence";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SUBSCRIPTION: return "subscription";
    case PG_QUERY__OBJECT_TYPE__OBJECT_STATISTIC_EXT: return "statistics";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT: return "constraint";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE: return "table";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLESPACE: return "tablespace";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRANSFORM: return "transform";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER: return "trigger";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSCONFIGURATION: return "text search configuration";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSDICTIONARY: return "text search dictionary";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSPARSER: return "text search parser";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSTEMPLATE: return "text search template";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TYPE: return "type";
    case PG_QUERY__OBJECT_TYPE__OBJECT_USER_MAPPING: return "user mapping";
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW: return "view";
    default: return "object";
  }
}

bool is_relation_kind(PgQuery__ObjectType t) {
  return t == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE || t == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX ||
         t == PG_QUERY__OBJECT_TYPE__OBJECT_VIEW || t == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW ||
         t == PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE || t == PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE;
}

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

void add_object(Statement& s, ObjectRef o) {
  if (!o.created && static_cast<int>(o.lock) > static_cast<int>(s.lock)) s.lock = o.lock;
  s.objects.push_back(std::move(o));
}


}  // namespace detail

namespace {

using C = StatementClass;
using L = LockLevel;
using namespace detail;

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
    {PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT, "AlterDatabaseSetStmt", "ALTER DATABASE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_DATABASE_REFRESH_COLL_STMT, "AlterDatabaseRefreshCollStmt", "ALTER DATABASE", C::ddl,
     true},
    {PG_QUERY__NODE__NODE_CREATE_TABLE_SPACE_STMT, "CreateTableSpaceStmt", "CREATE TABLESPACE", C::ddl, false},
    {PG_QUERY__NODE__NODE_DROP_TABLE_SPACE_STMT, "DropTableSpaceStmt", "DROP TABLESPACE", C::ddl, false},
    {PG_QUERY__NODE__NODE_ALTER_TABLE_SPACE_OPTIONS_STMT, "AlterTableSpaceOptionsStmt", "ALTER TABLESPACE", C::ddl,
     true},
    {PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT, "AlterTableMoveAllStmt", "ALTER TABLE", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_ROLE_STMT, "CreateRoleStmt", "CREATE ROLE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT, "AlterRoleSetStmt", "ALTER ROLE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_FUNCTION_STMT, "AlterFunctionStmt", "ALTER FUNCTION", C::ddl, true},
    {PG_QUERY__NODE__NODE_DEFINE_STMT, "DefineStmt", "CREATE", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_TYPE_STMT, "AlterTypeStmt", "ALTER TYPE", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_SEQ_STMT, "CreateSeqStmt", "CREATE SEQUENCE", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT, "CreateSchemaStmt", "CREATE SCHEMA", C::ddl, true},
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
    {PG_QUERY__NODE__NODE_CREATE_EVENT_TRIG_STMT, "CreateEventTrigStmt", "CREATE EVENT TRIGGER", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_TRANSFORM_STMT, "CreateTransformStmt", "CREATE TRANSFORM", C::ddl, true},
    {PG_QUERY__NODE__NODE_CREATE_AM_STMT, "CreateAmStmt", "CREATE ACCESS METHOD", C::ddl, true},
    // CREATE SUBSCRIPTION cannot run in a transaction block when it creates a slot (the default).
    {PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT, "CreateSubscriptionStmt", "CREATE SUBSCRIPTION", C::ddl, false},
    {PG_QUERY__NODE__NODE_ALTER_COLLATION_STMT, "AlterCollationStmt", "ALTER COLLATION", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_STATS_STMT, "AlterStatsStmt", "ALTER STATISTICS", C::ddl, true},
    {PG_QUERY__NODE__NODE_ALTER_OBJECT_DEPENDS_STMT, "AlterObjectDependsStmt", "ALTER", C::ddl, true},
    {PG_QUERY__NODE__NODE_REPLICA_IDENTITY_STMT, "ReplicaIdentityStmt", "ALTER TABLE", C::ddl, true},
};

}  // namespace

void classify(const PgQuery__Node* node, const CatalogFacts* facts, Statement& s, std::string_view time_zone) {
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
      classify_alter_table(node->alter_table_stmt, facts, s, time_zone);
      return;
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
    case PG_QUERY__NODE__NODE_CREATE_STATS_STMT:
      s.node_type = "CreateStatsStmt";
      s.tag = "CREATE STATISTICS";
      s.operation = s.tag;
      s.klass = C::ddl;
      for (std::size_t i = 0; i < node->create_stats_stmt->n_relations; ++i)
        if (const auto* r = node->create_stats_stmt->relations[i]; r && r->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
          add_object(s, object(r->range_var, "table", L::share_update_exclusive, facts));
      return;
    default:
      if (classify_object_statement(node, facts, s)) return;
      break;
  }
  for (const auto& g : kGeneric) {
    if (g.node_case != node->node_case) continue;
    s.node_type = g.node_type;
    s.tag = g.tag;
    s.operation = g.tag;
    s.klass = g.klass;
    s.allowed_in_transaction = g.tx_ok;
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
