#pragma once
// Rules that follow one lock across the statements of a transaction. A statement that reads or
// writes a whole table takes long; when the transaction already holds ACCESS EXCLUSIVE on that
// table (from an ALTER TABLE, a LOCK TABLE, a DROP INDEX earlier in it), the lock stays for the
// whole run and every other session queues behind it: long_statement_under_exclusive_lock.
// The catalogue entry is in rules.cc, the reason in docs/rules.md.
#include <optional>
#include <string>
#include <vector>

#include "policy/decision.h"
#include "policy/statement.h"

namespace schemagate::policy {

class CatalogFacts;
struct RuleContext;

/// A statement that reads or writes all of one existing table.
struct WholeTableRun {
  ObjectRef table;
  std::string what;  // "scans", "rewrites", "updates every row of", "deletes every row of"
};

/// The whole-table run of `s`, if it is one whose own lock is weaker than ACCESS EXCLUSIVE (a
/// statement taking ACCESS EXCLUSIVE itself is judged by its own rules for that lock): a scan or
/// rewrite (VALIDATE CONSTRAINT, CREATE INDEX, REFRESH MATERIALIZED VIEW CONCURRENTLY, …), or an
/// UPDATE or DELETE with no WHERE clause, or one that only tests columns for NULL (the backfill
/// form). `facts` resolves an unqualified DML target like the classifier does.
std::optional<WholeTableRun> whole_table_run(const Statement& s, const CatalogFacts* facts);

/// Appends the findings of the transaction rules for `s`.
void check_transaction_rules(const Statement& s, const RuleContext& ctx, std::vector<Finding>& out);

/// Records the ACCESS EXCLUSIVE locks `s` takes inside the transaction, for later statements.
void update_transaction_context(const Statement& s, RuleContext& ctx);

}  // namespace schemagate::policy
