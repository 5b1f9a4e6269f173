#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/sql_parser.h"

struct PgQuery__Node;

namespace schemagate::policy {

/// PostgreSQL's table-level lock modes, weakest first (values match LOCKMODE 1..8).
enum class LockLevel : int {
  none = 0,
  access_share = 1,
  row_share = 2,
  row_exclusive = 3,
  share_update_exclusive = 4,
  share = 5,
  share_row_exclusive = 6,
  exclusive = 7,
  access_exclusive = 8,
};

/// PostgreSQL's name for a lock mode ("ACCESS EXCLUSIVE"), "none" for none.
const char* lock_name(LockLevel l);
/// What a lock mode blocks, in words, for explanations ("blocks reads and writes").
const char* lock_effect(LockLevel l);

/// Broad class of a statement, for scoping and for the fast path.
enum class StatementClass {
  query,        // SELECT without INTO, VALUES, TABLE, SHOW, EXPLAIN without ANALYZE
  dml,          // INSERT / UPDATE / DELETE / MERGE, COPY
  transaction,  // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, …
  session,      // SET, RESET, DISCARD, PREPARE/EXECUTE/DEALLOCATE, cursors, LISTEN/NOTIFY, …
  ddl,          // anything that changes the catalog: CREATE/ALTER/DROP/…, GRANT, COMMENT, SELECT INTO
  maintenance,  // VACUUM, ANALYZE, CLUSTER, REINDEX, REFRESH MATERIALIZED VIEW, LOCK, CHECKPOINT, TRUNCATE
  opaque,       // DO, CALL: runs code the engine cannot see
};

/// Name of a statement class ("ddl", …), as used in JSON output.
const char* class_name(StatementClass c);

/// True for classes a policy governs (ddl, maintenance, opaque).
inline bool is_schema_changing(StatementClass c) {
  return c == StatementClass::ddl || c == StatementClass::maintenance || c == StatementClass::opaque;
}

/// A database object a statement touches and the lock it takes on it.
struct ObjectRef {
  std::string kind;    // "table", "index", "view", "sequence", "schema", "function", "type", "database", …
  std::string schema;  // empty when unqualified and not resolvable
  std::string name;
  LockLevel lock = LockLevel::none;
  bool created = false;  // the statement creates this object
  /// schema.name (unquoted, for display and pattern matching), or name when the schema is unknown.
  std::string display() const { return schema.empty() ? name : schema + "." + name; }
};

/// Everything known about one statement from its parse tree alone (no catalog).
struct Statement {
  std::size_t index = 0;   // position in the batch
  StatementSpan span;      // byte range in the batch text
  SourcePos pos;           // where it starts (first non-blank character)
  std::string text;        // the statement's own text, trimmed
  std::string node_type;   // protobuf node name, e.g. "IndexStmt"
  std::string tag;         // the command tag PostgreSQL would return, e.g. "CREATE INDEX"
  std::string operation;   // a finer description, e.g. "ALTER TABLE ADD COLUMN"
  StatementClass klass = StatementClass::query;
  std::vector<ObjectRef> objects;
  LockLevel lock = LockLevel::none;     // strongest lock on any existing object
  bool rewrites_table = false;          // the whole table is rewritten under the lock
  bool scans_table = false;             // the whole table is read under the lock
  bool allowed_in_transaction = true;   // false for CONCURRENTLY, VACUUM, CREATE DATABASE, …
  bool opaque = false;                  // runs code we cannot inspect (DO, CALL)
  bool concurrent = false;              // uses CONCURRENTLY
  const PgQuery__Node* node = nullptr;  // borrowed from the ParsedBatch that produced it (may be null)
};

}  // namespace schemagate::policy
