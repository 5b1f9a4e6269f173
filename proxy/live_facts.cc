#include "proxy/live_facts.h"

#include <charconv>

#include "policy/quote.h"

namespace schemagate::proxy {
namespace {

std::int64_t to_int(const std::optional<std::string>& v, std::int64_t fallback) {
  if (!v) return fallback;
  std::int64_t out = 0;
  const auto r = std::from_chars(v->data(), v->data() + v->size(), out);
  return r.ec == std::errc{} ? out : fallback;
}

}  // namespace

std::string LiveFacts::catalog_query(const std::vector<policy::QualifiedName>& tables) {
  // to_regclass resolves like the statement will (search_path, quoting) and returns NULL
  // instead of raising for a missing table. reltuples is -1 for a table never vacuumed or
  // analysed: then the size is estimated from its pages (about 100 rows per 8 kB page).
  std::string values;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const auto& t = tables[i];
    const std::string name = t.schema.empty() ? policy::quote_ident(t.name) : policy::quote_qualified(t.schema, t.name);
    if (!values.empty()) values += ", ";
    values += "(" + std::to_string(i) + ", " + policy::quote_literal(name) + ")";
  }
  return "SELECT t.ord, n.nspname, "
         "CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE pg_relation_size(c.oid) / 8192 * 100 END, "
         "pg_total_relation_size(c.oid), c.relkind::text, "
         "EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') "
         "FROM (VALUES " +
         values +
         ") AS t(ord, name) "
         "LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name) "
         "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
         "ORDER BY t.ord";
}

void LiveFacts::add_row(const std::vector<std::optional<std::string>>& row,
                        const std::vector<policy::QualifiedName>& tables) {
  if (row.size() != 6 || !row[1]) return;  // the table does not exist (yet): nothing is known
  const auto ord = to_int(row[0], -1);
  if (ord < 0 || static_cast<std::size_t>(ord) >= tables.size()) return;
  Table t;
  t.schema = *row[1];
  t.size.rows = to_int(row[2], -1);
  t.size.bytes = to_int(row[3], -1);
  t.partitioned = row[4] && *row[4] == "p";
  t.has_pk = row[5] && *row[5] == "t";
  const auto& ref = tables[static_cast<std::size_t>(ord)];
  tables_[{ref.schema, ref.name}] = t;
}

const LiveFacts::Table* LiveFacts::find(const policy::QualifiedName& t) const {
  if (auto it = tables_.find({t.schema, t.name}); it != tables_.end()) return &it->second;
  // The engine may ask with the resolved schema for a name it referenced unqualified.
  if (auto it = tables_.find({std::string(), t.name}); it != tables_.end() && it->second.schema == t.schema)
    return &it->second;
  return nullptr;
}

std::optional<policy::TableSize> LiveFacts::table_size(const policy::QualifiedName& table) const {
  const auto* t = find(table);
  if (!t || t->size.rows < 0) return std::nullopt;
  return t->size;
}

std::optional<bool> LiveFacts::has_primary_key(const policy::QualifiedName& table) const {
  const auto* t = find(table);
  return t ? std::optional<bool>(t->has_pk) : std::nullopt;
}

std::optional<std::string> LiveFacts::resolve_schema(std::string_view relation) const {
  if (auto it = tables_.find({std::string(), std::string(relation)}); it != tables_.end()) return it->second.schema;
  return std::nullopt;
}

std::optional<bool> LiveFacts::is_partitioned(const policy::QualifiedName& table) const {
  const auto* t = find(table);
  return t ? std::optional<bool>(t->partitioned) : std::nullopt;
}

}  // namespace schemagate::proxy
