#pragma once
#include <string>
#include <string_view>

#include "policy/facts.h"
#include "policy/statement.h"

struct PgQuery__ColumnDef;
struct PgQuery__TypeName;

namespace schemagate::policy {

/// Fills the parse-tree facts of one statement node: tag, operation, class, objects with the lock
/// taken on each, rewrite/scan, whether it may run in a transaction block, opaque.
/// `facts` (optional) resolves unqualified names against search_path. Never throws.
/// `time_zone`: the session's TimeZone where nothing earlier in the message can change it (else
/// empty, and a timestamp ↔ timestamptz change counts as a rewrite).
void classify(const PgQuery__Node* node, const CatalogFacts* facts, Statement& out, std::string_view time_zone = {});

/// The strongest volatility of the functions in an expression (a column default, say).
/// Unknown functions are looked up in `facts` and otherwise count as volatile; `culprit` receives
/// the function (or construct) that decided it.
Volatility expression_volatility(const PgQuery__Node* expr, const CatalogFacts* facts, std::string* culprit);

}  // namespace schemagate::policy

namespace schemagate::policy {

/// What ADD COLUMN (or a column of CREATE TABLE) implies.
struct ColumnFacts {
  std::string name;
  std::string type;             // base type, e.g. "int4", "varchar", "serial"
  bool has_default = false;
  bool default_volatile = false;
  std::string volatile_reason;  // function that made the default volatile
  bool serial = false;          // serial/bigserial/smallserial
  bool identity = false;        // GENERATED … AS IDENTITY
  bool stored_generated = false;  // GENERATED ALWAYS AS (…) STORED
  bool not_null = false;
  bool primary_key = false;
  bool unique = false;
  bool references = false;      // inline REFERENCES
  const PgQuery__Node* default_expr = nullptr;
  /// Whether adding this column to an existing table rewrites it on `server_version_num`.
  bool rewrites(int server_version_num) const {
    if (serial || identity || stored_generated) return true;
    if (!has_default) return false;
    return server_version_num < 110000 || default_volatile;
  }
};

/// Reads a ColumnDef (types, constraints, default volatility).
ColumnFacts column_facts(const PgQuery__ColumnDef* def, const CatalogFacts* facts);

/// Whether ALTER COLUMN TYPE from `old_type` (format_type() text, may be empty = unknown) to
/// `new_type` avoids a table rewrite.
enum class TypeChange { unknown, binary_coercible, rewrite };
/// `time_zone`: the session's TimeZone when nothing before the statement can change it, else empty
/// (timestamp ↔ timestamptz needs no rewrite under a fixed UTC zone, PostgreSQL 12+).
TypeChange type_change(std::string_view old_type, const PgQuery__TypeName* new_type, bool has_using,
                       std::string_view time_zone = {}, int server_version_num = 0);

/// "varchar(20)"-style display of a TypeName.
std::string type_display(const PgQuery__TypeName* t);

}  // namespace schemagate::policy
