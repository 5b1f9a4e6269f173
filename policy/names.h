#pragma once
// The names PostgreSQL 15 chooses for objects the user did not name (indexcmds.c ChooseIndexName,
// ChooseIndexColumnNames; parse_target.c FigureIndexColname; heap.c/tablecmds.c constraint names;
// namespace.c makeObjectName/ChooseRelationName), so a rewritten statement creates exactly the
// objects the original would have. Internal to sg_policy.
#include <set>
#include <string>
#include <string_view>
#include <vector>

struct PgQuery__Node;
struct PgQuery__IndexStmt;

namespace schemagate::policy {

/// NAMEDATALEN - 1: the longest identifier PostgreSQL keeps.
inline constexpr std::size_t kMaxIdentifierBytes = 63;

/// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence (pg_mbcliplen).
std::string clip_utf8(std::string_view s, std::size_t max);

/// makeObjectName: name1[_name2][_label] within 63 bytes, truncating the longer of name1/name2
/// first. `name2` may be empty (no name2 part).
std::string make_object_name(std::string_view name1, std::string_view name2, std::string_view label);

/// ChooseIndexNameAddition / ChooseForeignKeyConstraintNameAddition: names joined by '_',
/// stopping once the result reaches 64 bytes.
std::string name_addition(const std::vector<std::string>& names);

/// FigureIndexColname: the column name PostgreSQL derives from an index expression (function
/// name, column name, cast type, ...), or "" when it derives none ("expr" is then used).
std::string figure_colname(const PgQuery__Node* expr);

/// ChooseIndexColumnNames for an IndexStmt: key then INCLUDE columns, duplicates numbered.
std::vector<std::string> index_column_names(const PgQuery__IndexStmt* stmt);

/// Distinct column names an expression references (ColumnRef nodes, last field), in order of
/// first appearance; a CHECK referencing exactly one is named table_col_check.
std::vector<std::string> referenced_columns(const PgQuery__Node* expr);

/// Names already taken in the table's namespace, as far as the catalogue facts tell.
struct TakenNames {
  std::set<std::string> relations;    // index (and table) names
  std::set<std::string> constraints;  // constraint names
};

/// ChooseRelationName / ChooseConstraintName: make_object_name with label, label1, label2, ...
/// until the name is free; records the choice in `taken` so later choices in the plan avoid it.
/// `constraint` also avoids constraint names (unique/primary key/foreign key/check names).
std::string choose_name(std::string_view name1, std::string_view name2, std::string_view label, bool relation,
                        bool constraint, TakenNames& taken);

/// A name for a helper object that exists only while a plan runs: "schemagate_" + the
/// make_object_name of the parts, within 63 bytes, free in `taken`.
std::string helper_name(std::string_view table, std::string_view column, std::string_view label, TakenNames& taken);

}  // namespace schemagate::policy
