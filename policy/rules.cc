#include "policy/rules.h"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cctype>

#include "policy/classifier.h"
#include "policy/pg_tree.h"
#include "policy/quote.h"
#include "policy/rule_findings.h"
#include "policy/transaction_rules.h"

namespace schemagate::policy {

using tree::cstr;
using tree::str;
using A = Outcome;

namespace {

const std::vector<RuleInfo> kRules = {
    {"require_concurrent_index", A::rewrite,
     "CREATE INDEX blocks every write to the table until the index is built.",
     "SHARE lock on the table for the whole build; scans the table.",
     "CREATE INDEX CONCURRENTLY, outside a transaction block.", true},
    {"require_concurrent_drop_index", A::rewrite, "DROP INDEX blocks reads and writes of the table while it waits and runs.",
     "ACCESS EXCLUSIVE lock on the table.", "DROP INDEX CONCURRENTLY, outside a transaction block.", false},
    {"require_concurrent_reindex", A::rewrite, "REINDEX blocks writes to the table and reads that use the index.",
     "SHARE lock on the table, ACCESS EXCLUSIVE on the index; rebuilds it.",
     "REINDEX … CONCURRENTLY (PostgreSQL 12+), outside a transaction block.", false},
    {"add_column_volatile_default", A::rewrite,
     "ADD COLUMN with a volatile default rewrites the whole table under an ACCESS EXCLUSIVE lock.",
     "ACCESS EXCLUSIVE lock; full table rewrite.",
     "Add the column without a default, set the default, backfill in batches, then add NOT NULL via a validated CHECK.",
     true},
    {"add_column_default_pre_pg11", A::reject,
     "Before PostgreSQL 11, ADD COLUMN with any default rewrites the whole table.",
     "ACCESS EXCLUSIVE lock; full table rewrite.", "Add the column without a default, then backfill in batches.", true},
    {"add_column_serial", A::reject, "Adding a serial column fills every row from a sequence: a full table rewrite.",
     "ACCESS EXCLUSIVE lock; full table rewrite.",
     "Add a nullable bigint column, attach a sequence default, backfill in batches.", true},
    {"add_column_identity", A::reject, "Adding an identity column fills every row: a full table rewrite.",
     "ACCESS EXCLUSIVE lock; full table rewrite.",
     "Add a nullable bigint column, backfill it in batches, then ALTER COLUMN … ADD GENERATED … AS IDENTITY.", true},
    {"add_column_stored_generated", A::reject, "Adding a stored generated column computes it for every row: a rewrite.",
     "ACCESS EXCLUSIVE lock; full table rewrite.",
     "Add a plain column, backfill it in batches and keep it up to date with a trigger, or use a view.", true},
    {"add_column_not_null_without_default", A::reject,
     "ADD COLUMN … NOT NULL without a default fails on any table that has rows.", "ACCESS EXCLUSIVE lock; fails.",
     "Add the column nullable, backfill, then add NOT NULL via a validated CHECK constraint.", false},
    {"alter_column_type", A::reject,
     "Changing a column's type rewrites the table and its indexes unless the change is binary-coercible.",
     "ACCESS EXCLUSIVE lock; full table and index rewrite.",
     "Add a new column, backfill it in batches, switch reads and writes, then drop the old column. Widening varchar or "
     "varchar → text is safe.",
     true},
    {"alter_table_rewrite", A::reject, "SET LOGGED/UNLOGGED, SET TABLESPACE and SET ACCESS METHOD rewrite the table.",
     "ACCESS EXCLUSIVE lock; full table rewrite.", "Schedule it in a maintenance window or use logical replication.",
     true},
    {"set_not_null", A::rewrite, "SET NOT NULL scans the whole table while holding an ACCESS EXCLUSIVE lock.",
     "ACCESS EXCLUSIVE lock; full table scan.",
     "Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL 12+ skips the scan).", true},
    {"ban_drop_not_null", A::warn,
     "Dropping NOT NULL can break code that assumes the column is always set (including older app versions).",
     "ACCESS EXCLUSIVE lock (brief).", "Make sure every reader handles NULL first.", false},
    {"add_foreign_key", A::rewrite,
     "ADD FOREIGN KEY validates every row while blocking writes to both tables.",
     "SHARE ROW EXCLUSIVE lock on both tables; full scan of the referencing table.",
     "ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT in a separate transaction.", true},
    {"add_check_constraint", A::rewrite, "ADD CHECK validates every row under an ACCESS EXCLUSIVE lock.",
     "ACCESS EXCLUSIVE lock; full table scan.",
     "ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT in a separate transaction.", true},
    {"add_unique_constraint", A::rewrite, "ADD UNIQUE builds an index while blocking reads and writes.",
     "ACCESS EXCLUSIVE lock for the whole index build.",
     "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX.", true},
    {"add_primary_key", A::rewrite, "ADD PRIMARY KEY builds an index (and checks NOT NULL) while blocking reads and writes.",
     "ACCESS EXCLUSIVE lock for the whole index build.",
     "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … PRIMARY KEY USING INDEX.", true},
    {"add_exclusion_constraint", A::reject, "ADD EXCLUDE builds an index while blocking reads and writes; no concurrent path exists.",
     "ACCESS EXCLUSIVE lock for the whole index build.", "Create it with the table, or in a maintenance window.", true},
    {"long_statement_under_exclusive_lock", A::reject,
     "A statement that reads or writes the whole table, after the same transaction locked it ACCESS EXCLUSIVE, "
     "blocks every read and write of the table for its whole run.",
     "ACCESS EXCLUSIVE lock (from an earlier statement: ALTER TABLE, LOCK TABLE, DROP INDEX, …) held until COMMIT; "
     "full table scan, rewrite or update.",
     "COMMIT after the short ALTER; then run the long statement in its own transaction (CREATE INDEX "
     "CONCURRENTLY, VALIDATE CONSTRAINT, a batched backfill).",
     true},
    {"validate_in_same_transaction", A::reject,
     "VALIDATE CONSTRAINT in the same transaction as ADD … NOT VALID keeps the strong lock for the whole scan.",
     "The ADD's ACCESS EXCLUSIVE / SHARE ROW EXCLUSIVE lock is held until COMMIT.",
     "Commit after ADD … NOT VALID and VALIDATE in a separate transaction.", false},
    {"rename_column", A::hold, "Renaming a column breaks every running client that still uses the old name.",
     "ACCESS EXCLUSIVE lock (brief).", "Add a new column, write to both, backfill, switch readers, drop the old one.",
     false},
    {"rename_table", A::hold, "Renaming a table breaks every running client that still uses the old name.",
     "ACCESS EXCLUSIVE lock (brief).", "Create a view with the old name, or migrate clients first.", false},
    {"drop_column", A::hold, "Dropping a column breaks clients that still read it, and loses its data.",
     "ACCESS EXCLUSIVE lock (brief).", "Stop using the column in the application first; then drop it.", false},
    {"drop_table", A::hold, "Dropping a table loses its data and breaks clients that use it.",
     "ACCESS EXCLUSIVE lock.", "Make sure nothing uses it (rename it first, wait, then drop).", false},
    {"drop_schema", A::hold, "Dropping a schema drops everything in it.", "ACCESS EXCLUSIVE lock on every object.",
     "Drop the objects one by one after checking nothing uses them.", false},
    {"drop_database", A::reject, "Dropping a database loses all of its data.", "Needs no other connections.",
     "Do it by hand, outside the application's connection path.", false},
    {"truncate_table", A::hold, "TRUNCATE deletes every row and blocks all access to the table.",
     "ACCESS EXCLUSIVE lock.", "Delete in batches, or make sure the data is really disposable.", false},
    {"truncate_cascade", A::reject, "TRUNCATE … CASCADE also empties every table that references this one.",
     "ACCESS EXCLUSIVE lock on every table reached.", "Truncate the tables you mean, by name.", false},
    {"vacuum_full", A::reject, "VACUUM FULL rewrites the table while blocking reads and writes.",
     "ACCESS EXCLUSIVE lock; full table rewrite.", "Plain VACUUM, or pg_repack.", true},
    {"cluster_table", A::reject, "CLUSTER rewrites the table while blocking reads and writes.",
     "ACCESS EXCLUSIVE lock; full table rewrite.", "pg_repack, or a maintenance window.", true},
    {"refresh_matview_non_concurrent", A::rewrite,
     "REFRESH MATERIALIZED VIEW blocks every read of the view while it runs.", "ACCESS EXCLUSIVE lock on the view.",
     "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view).", true},
    {"require_concurrent_detach_partition", A::rewrite,
     "DETACH PARTITION blocks every query on the partitioned table while it waits for its lock and runs.",
     "ACCESS EXCLUSIVE lock on the partitioned table and on the partition.",
     "DETACH PARTITION … CONCURRENTLY (PostgreSQL 14+), outside a transaction block, without a DEFAULT partition.",
     false},
    {"lock_table", A::warn, "An explicit LOCK TABLE queues every other session behind it.",
     "The requested lock, held until the end of the transaction.", "Let the statements take the locks they need, with a lock_timeout.",
     false},
    {"concurrently_in_transaction", A::reject,
     "CONCURRENTLY cannot run inside a transaction block (a multi-statement string is one implicit transaction).",
     "PostgreSQL raises an error.", "Send the statement on its own, outside BEGIN … COMMIT (disable your migration "
                                    "tool's transaction for this migration).",
     false},
    {"transaction_block_forbidden", A::reject,
     "This statement cannot run inside a transaction block (a multi-statement string is one implicit transaction).",
     "PostgreSQL raises an error.", "Send the statement on its own, outside BEGIN … COMMIT.", false},
    {"require_lock_timeout", A::warn,
     "Lock-taking DDL without lock_timeout waits for its lock while every query behind it waits too.",
     "Lock queue: one long query stalls the whole table.", "SET lock_timeout = '2s' first, and retry on timeout.",
     false},
    {"prefer_jsonb", A::warn, "json stores text and has no equality operator; jsonb is almost always what you want.",
     "Advisory.", "Use jsonb.", false},
    {"prefer_timestamptz", A::warn, "timestamp without time zone loses the offset and breaks across time zones.",
     "Advisory.", "Use timestamptz.", false},
    {"ban_char_field", A::warn, "char(n) pads with spaces and is never faster than text.", "Advisory.",
     "Use text (with a CHECK on length if needed).", false},
    {"prefer_bigint_keys", A::warn, "32-bit integer keys run out at 2.1 billion; changing them later rewrites the table.",
     "Advisory.", "Use bigint (or bigint identity) for keys.", false},
    {"prefer_identity", A::warn, "serial creates a sequence with surprising ownership and permission rules.",
     "Advisory.", "Use bigint GENERATED BY DEFAULT AS IDENTITY.", false},
    {"foreign_key_without_index", A::warn,
     "A foreign key without an index on its columns makes deletes on the referenced table scan this one.", "Advisory.",
     "CREATE INDEX CONCURRENTLY on the referencing columns.", false},
    {"index_too_many_columns", A::warn, "Non-unique indexes with many columns are large and rarely fully used.",
     "Advisory.", "Keep non-unique indexes to a few columns.", false},
    {"drop_object", A::hold,
     "Dropping a view, sequence, type, domain, function, extension, role or other object breaks every client and object "
     "that still uses it (CASCADE drops the dependents too, table columns included).",
     "ACCESS EXCLUSIVE lock on a dropped relation (or on the table of a rule); CASCADE locks and drops every dependent.",
     "Check pg_depend and the application for users first; drop it once nothing uses it.", false},
    {"rename_object", A::hold,
     "Renaming, or moving to another schema, a view, sequence, type, domain, function, schema, database, role, "
     "publication or other object clients name breaks every client that still uses the old name.",
     "ACCESS EXCLUSIVE lock on a renamed or moved relation (brief); none on tables for other objects.",
     "Create the new name beside the old one (a view, a wrapper function), migrate clients, then drop the old one.",
     false},
    {"replace_view", A::hold, "CREATE OR REPLACE VIEW changes what every reader of the view gets, at once.",
     "ACCESS EXCLUSIVE lock on the view: its readers queue behind it.",
     "Create a view with a new name, switch readers to it, then drop the old one.", false},
    {"alter_enum_rename_value", A::hold,
     "Renaming an enum label changes the meaning of every stored value: clients that still write or compare the old "
     "label fail or match nothing.",
     "No table lock; every row holding the label reads the new one at once.",
     "Add the new label, migrate rows and clients to it, then stop using the old one.", false},
    {"enum_value_used_in_transaction", A::warn,
     "A label added by ALTER TYPE … ADD VALUE cannot be used before its transaction commits: PostgreSQL raises "
     "\"unsafe use of new value\" and the whole transaction rolls back.",
     "PostgreSQL raises an error (55P04).",
     "Commit after ADD VALUE and use the label in a later transaction (a separate migration).", false},
    {"sequence_restart", A::hold,
     "RESTART (or CYCLE) makes a sequence hand out values it handed out before: inserts fail on unique keys or reuse ids.",
     "SHARE ROW EXCLUSIVE lock on the sequence: nextval() waits.",
     "Only move a sequence forward, past the highest value in use (setval(seq, max(id)) checked by hand).", false},
    {"alter_sequence", A::warn,
     "Changing a sequence's type, increment, bounds or owning column changes what nextval() returns or when it fails, "
     "and what is dropped with the column.",
     "SHARE ROW EXCLUSIVE lock on the sequence: nextval() waits.",
     "Check code that relies on the increment (hi/lo id allocators) and the remaining range first.", false},
    {"drop_policy", A::hold,
     "Dropping a row-level security policy changes which rows every role sees or may write (permissive: they lose "
     "access; restrictive: they gain it).",
     "ACCESS EXCLUSIVE lock on the table.", "Create the replacement policy first, then drop the old one.", false},
    {"alter_policy", A::warn, "ALTER POLICY changes which rows the policy admits, for every query at once.",
     "ACCESS EXCLUSIVE lock on the table.", "Review the new expression and roles; try them with SET ROLE first.",
     false},
    {"disable_row_security", A::hold,
     "DISABLE ROW LEVEL SECURITY (or NO FORCE) makes every row visible to the roles the policies restricted (NO FORCE: "
     "to the table owner).",
     "ACCESS EXCLUSIVE lock on the table.", "Change the policies instead and keep row security on.", false},
    {"disable_trigger", A::hold,
     "Disabling or dropping a trigger stops what it enforces or records (audit rows, derived values; DISABLE TRIGGER "
     "ALL also foreign keys).",
     "SHARE ROW EXCLUSIVE lock (DISABLE) or ACCESS EXCLUSIVE lock (DROP TRIGGER) on the table.",
     "Keep the trigger; replace what it does before removing it.", false},
    {"alter_publication", A::hold,
     "Dropping a publication, removing tables from it or changing what it publishes silently stops replicating them: "
     "subscribers fall out of step.",
     "SHARE UPDATE EXCLUSIVE lock on each table named.", "Change the subscribers first, then the publication.",
     false},
    {"alter_subscription", A::hold,
     "Disabling, repointing or dropping a subscription stops replication into this database (DROP also drops the "
     "slot on the publisher).",
     "No table lock; REFRESH and SET/ADD/DROP PUBLICATION with refresh cannot run in a transaction block.",
     "Coordinate with the publisher's owner; change replication by hand.", false},
    {"alter_extension", A::hold,
     "ALTER EXTENSION … UPDATE runs the extension's upgrade scripts, which may change or drop functions, types and "
     "operators in use.",
     "Whatever the scripts do (often ACCESS EXCLUSIVE on tables using the extension).",
     "Read the upgrade notes; update in a maintenance window.", false},
    {"drop_owned", A::hold,
     "DROP OWNED drops every object the roles own in this database, tables and their data included, and revokes "
     "their privileges.",
     "ACCESS EXCLUSIVE lock on every table the roles own.",
     "REASSIGN OWNED first, then drop what is really unused, by name.", false},
    {"change_owner", A::warn,
     "A new owner (OWNER TO, REASSIGN OWNED) takes the owner's privileges away from the old one: if the application's "
     "role owned the object, its queries start failing.",
     "ACCESS EXCLUSIVE lock on a table (brief); REASSIGN OWNED: on every table the role owns.",
     "GRANT the old owner what it still needs first.", false},
    {"revoke_privileges", A::warn,
     "REVOKE (of privileges, role membership or default privileges) and ALTER ROLE … NOLOGIN/PASSWORD/VALID UNTIL/"
     "CONNECTION LIMIT make clients that relied on them fail, at once.",
     "No table lock; takes effect for every session.",
     "Check which roles still use the privilege (logs, pg_stat_statements) before revoking it.", false},
    {"alter_type_attribute", A::hold,
     "Dropping or retyping an attribute of a composite type changes every column and function using the type (DROP … "
     "CASCADE loses the attribute's data).",
     "ACCESS EXCLUSIVE lock on the type; CASCADE also alters the typed tables.",
     "Add a new attribute, migrate its users, then drop the old one.", false},
    {"alter_domain_constraint", A::warn,
     "Dropping or changing a domain's constraints, NOT NULL or default changes what every column of the domain "
     "accepts; SET NOT NULL and VALIDATE check all of them.",
     "SHARE lock on every table with a column of the domain while it is checked (SET NOT NULL, VALIDATE).",
     "Check every user of the domain first; prefer constraints on the table columns.", false},
    {"alter_system", A::hold,
     "ALTER SYSTEM changes the server's configuration for every database (at the next reload); ALTER DATABASE … "
     "CONNECTION LIMIT / ALLOW_CONNECTIONS / IS_TEMPLATE / SET TABLESPACE change who can connect or move the database.",
     "No table lock; SET TABLESPACE needs every other connection to the database closed.",
     "Change server and database settings by hand, through configuration management.", false},
    {"transaction_nesting", A::warn, "BEGIN inside a transaction block does nothing but warn; the migration is "
                                     "probably not doing what it thinks.",
     "Advisory.", "Remove the inner BEGIN/COMMIT (your migration tool already wraps it).", false},
    {"domain_check_constraint", A::warn,
     "A CHECK on a domain is validated against every column of that domain, under locks you cannot see.",
     "Scans every table using the domain.", "Put the CHECK on the table columns instead.", false},
    {"dynamic_sql", A::hold,
     "EXECUTE of a string built at run time (format(), ||, variables) in a DO block or function body runs SQL "
     "nobody can read before it runs.",
     "Unknown: whatever the string turns out to be.",
     "EXECUTE a constant string, or write the statements as plain SQL so each can be checked.", false},
    {"function_body_ddl", A::hold,
     "A function or procedure whose body would be rewritten, held or rejected runs that statement later, "
     "when a call looks like an ordinary SELECT or CALL.",
     "Those of the statement in the body, at every call.",
     "Run the schema change as its own statement; keep functions to DML and queries.", false},
    {"opaque_statement", A::hold,
     "DO blocks or functions whose body cannot be inspected (a language other than sql/plpgsql, or a body that "
     "does not parse) run code the policy cannot see (it may contain DDL).",
     "Unknown.", "Write the DDL as plain statements so it can be checked.", false},
    // Its own rule, so a deployment whose procedures all went through schemagate can relax it
    // without also letting other-language bodies through (docs/security.md argues the default).
    {"call_procedure", A::hold,
     "CALL runs a stored procedure whose body was judged when it was created through schemagate, but not if it "
     "was created another way.",
     "Those of the statements in the procedure.",
     "Create procedures through schemagate; where all of them were, set call_procedure: warn.", false},
    {"unparsable", A::pass,
     "The text looks schema-changing but PostgreSQL 15's grammar rejects it (the server may be newer).", "Unknown.",
     "Check the statement by hand.", false},
    {"unreadable_text", A::reject,
     "The server may read this text differently from schemagate (standard_conforming_strings or client_encoding "
     "change still in flight, or bytes invalid in the client encoding), so nobody can tell which statements it runs.",
     "Unknown.",
     "Send it again once the SET has completed, or write strings as E'…' or dollar-quoted, which read the same "
     "under every setting.",
     false},
};

using detail::lower;
using Emitter = detail::FindingSink;

std::string table_display(const ObjectRef& o) { return o.display(); }

std::string size_note(const ObjectRef& t, const RuleContext& ctx) {
  if (!ctx.facts) return "table size unknown; assuming it is large";
  if (auto sz = ctx.facts->table_size(QualifiedName{t.schema, t.name}))
    return "about " + std::to_string(sz->rows) + " rows";
  return "table size unknown; assuming it is large";
}

bool is_int32_type(const std::string& t) {
  return t == "int4" || t == "int" || t == "integer" || t == "int2" || t == "smallint" || t == "serial" ||
         t == "serial4" || t == "smallserial" || t == "serial2";
}

void type_advice(Emitter& e, const PgQuery__TypeName* t, std::string_view column) {
  const std::string base = tree::type_base(t);
  const std::string col(column);
  if (base == "json") e.add("prefer_jsonb", "column " + col + " uses json");
  if (base == "timestamp") e.add("prefer_timestamptz", "column " + col + " uses timestamp without time zone");
  if (base == "bpchar") e.add("ban_char_field", "column " + col + " uses char(n)");
}

// Column names of a constraint key list (String nodes).
std::vector<std::string> key_names(PgQuery__Node* const* items, std::size_t n) { return tree::names(items, n); }

bool has_index_on(const RuleContext& ctx, const ObjectRef& table, const std::vector<std::string>& cols) {
  const std::string key = lower(table.display());
  for (const auto& [t, icols] : ctx.created_indexes) {
    if (t != key && lower(table.name) != t) continue;
    if (icols.size() >= cols.size() && std::equal(cols.begin(), cols.end(), icols.begin())) return true;
  }
  if (ctx.facts) {
    for (const auto& idx : ctx.facts->indexes(QualifiedName{table.schema, table.name}))
      if (idx.valid && idx.columns.size() >= cols.size() && std::equal(cols.begin(), cols.end(), idx.columns.begin()))
        return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += ", ";
    s += x;
  }
  return s;
}

void check_column_def(Emitter& e, const PgQuery__ColumnDef* def, const ObjectRef& table, bool existing_table,
                      const RuleContext& ctx) {
  const auto cf = column_facts(def, ctx.facts);
  type_advice(e, def->type_name, cf.name);
  if (cf.primary_key && is_int32_type(cf.type))
    e.add("prefer_bigint_keys", "key column " + cf.name + " is a 32-bit " + cf.type);
  if (cf.serial && !existing_table) e.add("prefer_identity", "column " + cf.name + " uses " + cf.type);
  if (!existing_table) return;
  const bool small = ctx.is_small(table);
  const std::string t = table_display(table);
  if (!small) {
    if (cf.serial)
      e.add("add_column_serial", "adding serial column " + cf.name + " rewrites " + t,
            "ACCESS EXCLUSIVE lock on " + t + " for a full rewrite (" + size_note(table, ctx) + ")");
    if (cf.identity)
      e.add("add_column_identity", "adding identity column " + cf.name + " rewrites " + t,
            "ACCESS EXCLUSIVE lock on " + t + " for a full rewrite (" + size_note(table, ctx) + ")");
    if (cf.stored_generated)
      e.add("add_column_stored_generated", "adding stored generated column " + cf.name + " rewrites " + t,
            "ACCESS EXCLUSIVE lock on " + t + " for a full rewrite (" + size_note(table, ctx) + ")");
    if (cf.has_default && cf.default_volatile && !cf.serial && !cf.identity)
      e.add("add_column_volatile_default",
            "adding column " + cf.name + " with volatile default " + cf.volatile_reason + " rewrites " + t,
            "ACCESS EXCLUSIVE lock on " + t + " for a full rewrite (" + size_note(table, ctx) + ")");
    else if (cf.has_default && ctx.server_version_num < 110000 && !cf.serial && !cf.identity)
      e.add("add_column_default_pre_pg11", "adding column " + cf.name + " with a default rewrites " + t +
                                               " before PostgreSQL 11");
    if (cf.unique || cf.primary_key)
      e.add(cf.primary_key ? "add_primary_key" : "add_unique_constraint",
            "column " + cf.name + " adds a " + (cf.primary_key ? "primary key" : "unique constraint") +
                " built under ACCESS EXCLUSIVE on " + t);
    if (cf.references)
      e.add("add_foreign_key", "column " + cf.name + " adds a validated foreign key on " + t);
    for (std::size_t i = 0; i < def->n_constraints; ++i)
      if (const auto* c = def->constraints[i];
          c && c->node_case == PG_QUERY__NODE__NODE_CONSTRAINT && c->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_CHECK &&
          !c->constraint->skip_validation)
        e.add("add_check_constraint", "column " + cf.name + " adds a CHECK that is validated against every row of " + t,
              "ACCESS EXCLUSIVE lock on " + t + " while every row is checked (" + size_note(table, ctx) + ")");
  }
  const bool fresh = !ctx.assume_large_tables && ctx.created_tables.count(lower(table.display()));
  if (cf.not_null && !cf.has_default && !cf.identity && !cf.serial && !cf.stored_generated && !fresh)
    e.add("add_column_not_null_without_default",
          "column " + cf.name + " is NOT NULL without a default: fails if " + t + " has rows");
}

void check_constraint(Emitter& e, const PgQuery__Constraint* c, const ObjectRef& table, const RuleContext& ctx) {
  const std::string t = table_display(table);
  const std::string name = cstr(c->conname).empty() ? std::string("(unnamed)") : std::string(c->conname);
  const bool small = ctx.is_small(table);
  switch (c->contype) {
    case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN: {
      if (!c->skip_validation && !small)
        e.add("add_foreign_key", "foreign key " + name + " on " + t + " is validated while blocking writes",
              "SHARE ROW EXCLUSIVE lock on " + t + " and " + tree::qname(c->pktable).name +
                  " while every row is checked (" + size_note(table, ctx) + ")");
      const auto cols = key_names(c->fk_attrs, c->n_fk_attrs);
      if (!cols.empty() && !has_index_on(ctx, table, cols))
        e.add("foreign_key_without_index", "no index on " + t + " (" + join(cols) + ") for foreign key " + name);
      break;
    }
    case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK:
      if (!c->skip_validation && !small)
        e.add("add_check_constraint", "check constraint " + name + " on " + t + " is validated under ACCESS EXCLUSIVE",
              "ACCESS EXCLUSIVE lock on " + t + " while every row is checked (" + size_note(table, ctx) + ")");
      break;
    case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE:
      if (cstr(c->indexname).empty() && !small)
        e.add("add_unique_constraint", "unique constraint " + name + " on " + t + " builds its index under ACCESS EXCLUSIVE",
              "ACCESS EXCLUSIVE lock on " + t + " for the whole index build (" + size_note(table, ctx) + ")");
      break;
    case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
      if (cstr(c->indexname).empty() && !small)
        e.add("add_primary_key", "primary key " + name + " on " + t + " builds its index under ACCESS EXCLUSIVE",
              "ACCESS EXCLUSIVE lock on " + t + " for the whole index build (" + size_note(table, ctx) + ")");
      break;
    case PG_QUERY__CONSTR_TYPE__CONSTR_EXCLUSION:
      if (!small) e.add("add_exclusion_constraint", "exclusion constraint " + name + " on " + t + " builds its index under ACCESS EXCLUSIVE");
      break;
    default: break;
  }
}

void check_alter_table(Emitter& e, const PgQuery__AlterTableStmt* a, const Statement& s, const RuleContext& ctx) {
  if (s.objects.empty()) return;
  const ObjectRef& table = s.objects.front();
  const std::string t = table_display(table);
  const bool small = ctx.is_small(table);
  for (std::size_t i = 0; i < a->n_cmds; ++i) {
    const auto* n = a->cmds[i];
    if (!n || n->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD) continue;
    const auto* cmd = n->alter_table_cmd;
    const std::string col(cstr(cmd->name));
    switch (cmd->subtype) {
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnRecurse:
        if (cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF)
          check_column_def(e, cmd->def->column_def, table, true, ctx);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnType: {
        if (!cmd->def || cmd->def->node_case != PG_QUERY__NODE__NODE_COLUMN_DEF) break;
        const auto* def = cmd->def->column_def;
        type_advice(e, def->type_name, col);
        std::optional<std::string> old;
        if (ctx.facts) old = ctx.facts->column_type(QualifiedName{table.schema, table.name}, col);
        const auto tc = type_change(old.value_or(""), def->type_name, def->raw_default != nullptr, ctx.time_zone,
                                    ctx.server_version_num);
        if (tc == TypeChange::binary_coercible || small) break;
        const std::string to = type_display(def->type_name);
        e.add("alter_column_type",
              tc == TypeChange::unknown
                  ? "changing " + t + "." + col + " to " + to + " may rewrite the table (current type unknown)"
                  : "changing " + t + "." + col + (old ? " from " + *old : std::string()) + " to " + to + " rewrites the table",
              "ACCESS EXCLUSIVE lock on " + t + " for a full rewrite of the table and its indexes (" +
                  size_note(table, ctx) + ")");
        break;
      }
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull:
        if (!small && !proves_not_null(ctx.facts, QualifiedName{table.schema, table.name}, col, ctx.server_version_num))
          e.add("set_not_null", "SET NOT NULL on " + t + "." + col + " scans the table under ACCESS EXCLUSIVE",
                "ACCESS EXCLUSIVE lock on " + t + " during a full scan (" + size_note(table, ctx) + ")");
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DropNotNull:
        e.add("ban_drop_not_null", "dropping NOT NULL on " + t + "." + col);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse:
        if (cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT)
          check_constraint(e, cmd->def->constraint, table, ctx);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraint:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraintRecurse:
        if (ctx.transactional() && ctx.not_valid.count({lower(table.display()), lower(col)}))
          e.add("validate_in_same_transaction",
                "constraint " + col + " is validated in the same transaction that added it NOT VALID");
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartition:
        // Before 14 there is no concurrent form; require_lock_timeout still covers the wait.
        if (ctx.server_version_num >= 140000 && cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_PARTITION_CMD &&
            !cmd->def->partition_cmd->concurrent)
          e.add("require_concurrent_detach_partition",
                "DETACH PARTITION " + tree::qname(cmd->def->partition_cmd->name).name + " takes ACCESS EXCLUSIVE on " + t);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumnRecurse:
        e.add("drop_column", "dropping column " + t + "." + col);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetLogged:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetUnLogged:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetTableSpace:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetAccessMethod:
        if (!small) e.add("alter_table_rewrite", s.operation + " rewrites " + t);
        break;
      default: break;
    }
  }
}

}  // namespace

const std::vector<RuleInfo>& rule_catalogue() { return kRules; }

const RuleInfo* find_rule(std::string_view id) {
  for (const auto& r : kRules)
    if (r.id == id) return &r;
  return nullptr;
}

bool proves_not_null(const CatalogFacts* facts, const QualifiedName& table, std::string_view column,
                     int server_version_num) {
  if (!facts) return false;
  if (facts->column_not_null(table, column).value_or(false)) return true;
  if (server_version_num < 120000) return false;
  // pg_get_constraintdef prints CHECK ((c IS NOT NULL)) or CHECK (((a IS NOT NULL) AND (b IS NOT
  // NULL))). Only such a conjunction proves it: "(c IS NOT NULL) OR …" must not count.
  const std::string term = "(" + quote_ident(column) + " IS NOT NULL)";
  for (const auto& c : facts->constraints(table)) {
    if (c.type != 'c' || !c.validated) continue;
    std::string_view d = c.definition;
    if (d.size() < 9 || d.substr(0, 7) != "CHECK (" || d.back() != ')') continue;
    d = d.substr(7, d.size() - 8);
    if (d == term) return true;
    if (d.size() < 2 || d.front() != '(' || d.back() != ')') continue;
    d = d.substr(1, d.size() - 2);
    for (std::size_t pos = 0;;) {
      const auto next = d.find(" AND ", pos);
      if (d.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos) == term) return true;
      if (next == std::string_view::npos) break;
      pos = next + 5;
    }
  }
  return false;
}

bool RuleContext::holds_access_exclusive(const ObjectRef& table) const {
  if (exclusive_tables.count(lower(table.display()))) return true;
  return facts && facts->holds_access_exclusive(QualifiedName{table.schema, table.name});
}

bool RuleContext::is_small(const ObjectRef& table) const {
  if (!assume_large_tables && created_tables.count(lower(table.display()))) return true;
  if (assume_large_tables || !facts || !thresholds) return false;
  const auto sz = facts->table_size(QualifiedName{table.schema, table.name});
  return sz && sz->rows >= 0 && static_cast<std::uint64_t>(sz->rows) < thresholds->small_table_rows;
}

std::vector<Finding> check_rules(const Statement& s, const RuleContext& ctx) {
  std::vector<Finding> out;
  Emitter e{out};
  const PgQuery__Node* n = s.node;
  const bool tx = ctx.transactional();
  if (!s.allowed_in_transaction && tx) {
    if (s.concurrent)
      e.add("concurrently_in_transaction", s.operation + " cannot run inside a transaction block" +
                                               (ctx.in_transaction ? "" : " (this multi-statement string is one)"));
    else
      e.add("transaction_block_forbidden", s.operation + " cannot run inside a transaction block" +
                                               (ctx.in_transaction ? "" : " (this multi-statement string is one)"));
  }
  if (!n) return out;
  const ObjectRef* first = s.objects.empty() ? nullptr : &s.objects.front();
  check_object_rules(s, ctx, out);       // policy/object_rules.cc
  check_transaction_rules(s, ctx, out);  // policy/transaction_rules.cc
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_INDEX_STMT: {
      const auto* i = n->index_stmt;
      // CREATE INDEX ON ONLY a partitioned parent builds nothing (the parent has no storage).
      const bool parent_only = i->relation && !i->relation->inh && ctx.facts &&
                               ctx.facts->is_partitioned(tree::qname(i->relation)).value_or(false);
      if (!i->concurrent && first && !parent_only && !ctx.is_small(*first))
        e.add("require_concurrent_index", "CREATE INDEX on " + first->display() + " blocks writes while it builds",
              "SHARE lock on " + first->display() + " for the whole build (" + size_note(*first, ctx) + ")");
      const auto* th = ctx.thresholds;
      if (!i->unique && th && i->n_index_params > th->max_index_columns)
        e.add("index_too_many_columns", "non-unique index with " + std::to_string(i->n_index_params) + " columns");
      break;
    }
    case PG_QUERY__NODE__NODE_DROP_STMT: {
      const auto* d = n->drop_stmt;
      if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX && !d->concurrent)
        e.add("require_concurrent_drop_index",
              "DROP INDEX " + (first ? first->display() : std::string()) + " takes ACCESS EXCLUSIVE on its table");
      if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE) {
        for (const auto& o : s.objects)
          if (ctx.assume_large_tables || !ctx.created_tables.count(lower(o.display())))
            e.add("drop_table", "dropping table " + o.display());
      }
      if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA)
        for (const auto& o : s.objects) e.add("drop_schema", "dropping schema " + o.display());
      break;
    }
    case PG_QUERY__NODE__NODE_DROPDB_STMT:
      e.add("drop_database", "dropping database " + std::string(cstr(n->dropdb_stmt->dbname)));
      break;
    case PG_QUERY__NODE__NODE_REINDEX_STMT:
      if (!s.concurrent) e.add("require_concurrent_reindex", "REINDEX without CONCURRENTLY blocks writes");
      break;
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
      // ALTER TYPE … ADD/DROP/ALTER ATTRIBUTE parses as ALTER TABLE; object_rules.cc judges it.
      if (n->alter_table_stmt->objtype != PG_QUERY__OBJECT_TYPE__OBJECT_TYPE) check_alter_table(e, n->alter_table_stmt, s, ctx);
      break;
    case PG_QUERY__NODE__NODE_CREATE_STMT: {
      const auto* c = n->create_stmt;
      ObjectRef table = first ? *first : ObjectRef{};
      for (std::size_t i = 0; i < c->n_table_elts; ++i) {
        const auto* el = c->table_elts[i];
        if (el && el->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF) check_column_def(e, el->column_def, table, false, ctx);
        if (el && el->node_case == PG_QUERY__NODE__NODE_CONSTRAINT &&
            el->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY) {
          // Table-level PRIMARY KEY (id): look up the column types declared in this statement.
          for (const auto& key : key_names(el->constraint->keys, el->constraint->n_keys))
            for (std::size_t j = 0; j < c->n_table_elts; ++j) {
              const auto* cd = c->table_elts[j];
              if (cd && cd->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF && cstr(cd->column_def->colname) == key &&
                  is_int32_type(tree::type_base(cd->column_def->type_name)))
                e.add("prefer_bigint_keys", "key column " + key + " is a 32-bit " +
                                                tree::type_base(cd->column_def->type_name));
            }
        }
      }
      break;
    }
    case PG_QUERY__NODE__NODE_RENAME_STMT: {
      const auto* r = n->rename_stmt;
      if (r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN)
        e.add("rename_column", "renaming column " + (first ? first->display() : std::string()) + "." +
                                   std::string(cstr(r->subname)) + " to " + std::string(cstr(r->newname)));
      else if (r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE)
        e.add("rename_table", "renaming table " + (first ? first->display() : std::string()) + " to " +
                                  std::string(cstr(r->newname)));
      break;
    }
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
      for (const auto& o : s.objects) e.add("truncate_table", "truncating " + o.display());
      if (n->truncate_stmt->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE)
        e.add("truncate_cascade", "TRUNCATE … CASCADE also empties every referencing table");
      break;
    case PG_QUERY__NODE__NODE_VACUUM_STMT:
      if (s.rewrites_table) {
        bool all_small = !s.objects.empty();
        for (const auto& o : s.objects) all_small = all_small && ctx.is_small(o);
        if (!all_small) e.add("vacuum_full", "VACUUM FULL rewrites " + (first ? first->display() : std::string("every table")));
      }
      break;
    case PG_QUERY__NODE__NODE_CLUSTER_STMT:
      if (!first || !ctx.is_small(*first))
        e.add("cluster_table", "CLUSTER rewrites " + (first ? first->display() : std::string("every clustered table")));
      break;
    case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT:
      if (!s.concurrent && first && !ctx.is_small(*first))
        e.add("refresh_matview_non_concurrent", "REFRESH MATERIALIZED VIEW " + first->display() + " blocks its readers");
      break;
    case PG_QUERY__NODE__NODE_LOCK_STMT:
      e.add("lock_table", std::string("LOCK TABLE in ") + lock_name(s.lock) + " mode");
      break;
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
      if (s.tag == "BEGIN" && ctx.in_transaction) e.add("transaction_nesting", "BEGIN inside a transaction block");
      break;
    case PG_QUERY__NODE__NODE_CREATE_DOMAIN_STMT:
      for (std::size_t i = 0; i < n->create_domain_stmt->n_constraints; ++i)
        if (const auto* c = n->create_domain_stmt->constraints[i];
            c && c->node_case == PG_QUERY__NODE__NODE_CONSTRAINT && c->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_CHECK)
          e.add("domain_check_constraint", "CREATE DOMAIN with a CHECK constraint");
      break;
    case PG_QUERY__NODE__NODE_ALTER_DOMAIN_STMT:
      if (cstr(n->alter_domain_stmt->subtype) == "C")
        e.add("domain_check_constraint", "ALTER DOMAIN … ADD CONSTRAINT validates every column using the domain");
      break;
    case PG_QUERY__NODE__NODE_DO_STMT: e.add("opaque_statement", s.operation + " runs code the policy cannot inspect"); break;
    case PG_QUERY__NODE__NODE_CALL_STMT: e.add("call_procedure", s.operation + " runs a stored procedure"); break;
    default: break;
  }
  // Lock-taking DDL on an existing object without lock_timeout: the lock queue problem.
  if (is_schema_changing(s.klass) && !ctx.lock_timeout_set &&
      static_cast<int>(s.lock) >= static_cast<int>(LockLevel::share) && !s.concurrent) {
    bool existing = false;
    for (const auto& o : s.objects)
      if (!o.created && static_cast<int>(o.lock) >= static_cast<int>(LockLevel::share) &&
          (ctx.assume_large_tables || !ctx.created_tables.count(lower(o.display()))))
        existing = true;
    if (existing) e.add("require_lock_timeout", s.operation + " takes " + lock_name(s.lock) + " without lock_timeout");
  }
  // VALIDATE right after its ADD … NOT VALID has a rule of its own that says exactly that.
  const auto has = [&](std::string_view id) {
    return std::any_of(out.begin(), out.end(), [&](const Finding& f) { return f.rule_id == id; });
  };
  if (has("validate_in_same_transaction"))
    out.erase(std::remove_if(out.begin(), out.end(),
                             [](const Finding& f) { return f.rule_id == "long_statement_under_exclusive_lock"; }),
              out.end());
  return out;
}

void update_context(const Statement& s, RuleContext& ctx) {
  const PgQuery__Node* n = s.node;
  if (!n) return;
  update_object_context(s, ctx);       // policy/object_rules.cc
  update_transaction_context(s, ctx);  // policy/transaction_rules.cc
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
      if (s.tag == "BEGIN") ctx.in_transaction = true;
      else if (s.tag == "COMMIT" || (s.tag == "ROLLBACK" && n->transaction_stmt->kind ==
                                                                  PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK) ||
               s.tag == "PREPARE TRANSACTION") {
        ctx.in_transaction = false;
        ctx.not_valid.clear();
        ctx.exclusive_tables.clear();
      }
      break;
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT: {
      const auto* v = n->variable_set_stmt;
      if (lower(std::string(cstr(v->name))) != "lock_timeout") break;
      bool set = v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE;
      if (set && v->n_args == 1 && v->args[0] && v->args[0]->node_case == PG_QUERY__NODE__NODE_A_CONST) {
        const auto* c = v->args[0]->a_const;
        if (c->val_case == PG_QUERY__A__CONST__VAL_IVAL && c->ival && c->ival->ival == 0) set = false;
        if (c->val_case == PG_QUERY__A__CONST__VAL_SVAL && c->sval && cstr(c->sval->sval).find_first_not_of("0") ==
                                                                          std::string_view::npos)
          set = false;
      }
      ctx.lock_timeout_set = set;
      break;
    }
    case PG_QUERY__NODE__NODE_CREATE_STMT:
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
    case PG_QUERY__NODE__NODE_SELECT_STMT:
      for (const auto& o : s.objects)
        if (o.created) ctx.created_tables.insert(lower(o.display()));
      break;
    case PG_QUERY__NODE__NODE_INDEX_STMT: {
      const auto* i = n->index_stmt;
      std::vector<std::string> cols;
      for (std::size_t k = 0; k < i->n_index_params; ++k) {
        const auto* p = i->index_params[k];
        cols.push_back(p && p->node_case == PG_QUERY__NODE__NODE_INDEX_ELEM ? std::string(cstr(p->index_elem->name))
                                                                            : std::string());
      }
      if (!s.objects.empty()) {
        ctx.created_indexes.emplace_back(lower(s.objects.front().display()), cols);
        ctx.created_indexes.emplace_back(lower(s.objects.front().name), cols);
      }
      break;
    }
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT: {
      const auto* a = n->alter_table_stmt;
      for (std::size_t i = 0; i < a->n_cmds; ++i) {
        const auto* c = a->cmds[i];
        if (!c || c->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD || s.objects.empty()) continue;
        const auto* cmd = c->alter_table_cmd;
        if ((cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint ||
             cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse) &&
            cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT && cmd->def->constraint->skip_validation &&
            !cstr(cmd->def->constraint->conname).empty() && ctx.transactional())
          ctx.not_valid.insert({lower(s.objects.front().display()), lower(cmd->def->constraint->conname)});
      }
      break;
    }
    default: break;
  }
}

}  // namespace schemagate::policy
