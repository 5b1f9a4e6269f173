#pragma once
// Shared by the classifier's translation units (classifier.cc dispatches; classify_alter_table.cc,
// classify_objects.cc and classify_columns.cc do one family of statements each). Internal to
// sg_policy.
#include <string>

#include "policy/classifier.h"
#include "policy/pg_tree.h"

namespace schemagate::policy::detail {

/// An object named by a RangeVar; unqualified names are resolved through `facts` (not for
/// objects the statement creates: they land in the first schema of search_path, not where an
/// older namesake lives).
ObjectRef object(const PgQuery__RangeVar* rv, std::string kind, LockLevel lock, const CatalogFacts* facts,
                 bool created = false);
/// An object named by a list of String nodes ("schema", "name"); never resolved.
ObjectRef named_object(PgQuery__Node* const* items, std::size_t n, std::string kind, LockLevel lock,
                       bool created = false);
/// The display kind of an ObjectType ("table", "materialized view", "event trigger", …).
const char* object_kind(PgQuery__ObjectType t);
/// Relations (pg_class entries) as opposed to other catalogue objects.
bool is_relation_kind(PgQuery__ObjectType t);
/// Appends `o` and raises the statement's lock to `o.lock` when `o` exists already.
void add_object(Statement& s, ObjectRef o);

void classify_alter_table(const PgQuery__AlterTableStmt* a, const CatalogFacts* facts, Statement& s,
                          std::string_view time_zone);
void classify_create_table(const PgQuery__CreateStmt* c, const CatalogFacts* facts, Statement& s, const char* kind);

/// Statements about existing non-table objects and their meaning (DROP, RENAME, SET SCHEMA,
/// OWNER TO, enums, domains, sequences, views, policies, publications, subscriptions, extensions,
/// triggers, privileges, roles, COMMENT, …). Returns false for node kinds it does not handle.
bool classify_object_statement(const PgQuery__Node* node, const CatalogFacts* facts, Statement& s);

/// Upper-case form of a kind for command tags ("materialized view" → "MATERIALIZED VIEW").
std::string upper(std::string s);

}  // namespace schemagate::policy::detail
