#pragma once
#include <pg_query/pg_query.pb-c.h>

#include "policy/facts.h"
#include "policy/statement.h"

namespace schemagate::policy {

// A simple Query message with several statements runs them in one implicit transaction, so a
// statement that must run outside a transaction block (CONCURRENTLY, VACUUM), or a plan that
// needs one of its own, cannot run in it. When every other statement of the message is a
// read-only query, nothing is lost by running them apart, in order: the proxy splits the
// message (policy::split_message, PhaseKind::passthrough).

/// A read-only query that means the same on its own as inside the message: SELECT (without
/// INTO or a data-modifying WITH), VALUES, TABLE, SHOW, EXPLAIN without ANALYZE. Functions a
/// SELECT calls are not looked into.
bool runs_apart_unchanged(const Statement& s);

/// Index of the one statement of a multi-statement message that changes the schema when every
/// other statement runs apart unchanged; -1 otherwise.
int lone_schema_change(const PgQuery__ParseResult* tree, const CatalogFacts* facts);

}  // namespace schemagate::policy
