#include "proxy/live_facts.h"

#include <nlohmann/json.hpp>

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
  // instead of raising for a missing table. Everything is read from the catalogs only: no
  // function that opens the relation (pg_relation_size and friends take a lock, and would
  // queue behind any lock on the table — even one held by a prepared transaction). Sizes are
  // the planner's statistics; a table never vacuumed or analysed (reltuples -1) has unknown
  // size, and the rules treat it as large.
  std::string values;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const auto& t = tables[i];
    const std::string name = t.schema.empty() ? policy::quote_ident(t.name) : policy::quote_qualified(t.schema, t.name);
    if (!values.empty()) values += ", ";
    values += "(" + std::to_string(i) + ", " + policy::quote_literal(name) + ")";
  }
  // Columns, indexes and constraints come as JSON arrays so that names containing any
  // character survive the trip.
  return "SELECT t.ord, n.nspname, "
         "c.reltuples::bigint, c.relpages::bigint * current_setting('block_size')::bigint, c.relkind::text, "
         "EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p'), "
         "(SELECT json_agg(json_build_array(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))) "
         "   FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), "
         "(SELECT json_agg(json_build_array(ic.relname, i.indisunique, i.indisvalid, "
         "    (SELECT json_agg(COALESCE(att.attname, '') ORDER BY k.n) "
         "       FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) "
         "       LEFT JOIN pg_catalog.pg_attribute att ON att.attrelid = c.oid AND att.attnum = k.attnum "
         "      WHERE k.n <= i.indnkeyatts))) "
         "   FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid), "
         "(SELECT json_agg(json_build_array(k.conname, k.contype::text, pg_catalog.pg_get_constraintdef(k.oid), "
         "    k.convalidated)) FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid) "
         "FROM (VALUES " +
         values +
         ") AS t(ord, name) "
         "LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name) "
         "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
         "ORDER BY t.ord";
}

void LiveFacts::add_row(const std::vector<std::optional<std::string>>& row,
                        const std::vector<policy::QualifiedName>& tables) {
  if (row.size() != 9 || !row[1]) return;  // the table does not exist (yet): nothing is known
  const auto ord = to_int(row[0], -1);
  if (ord < 0 || static_cast<std::size_t>(ord) >= tables.size()) return;
  Table t;
  t.schema = *row[1];
  t.size.rows = to_int(row[2], -1);
  t.size.bytes = to_int(row[3], -1);
  t.partitioned = row[4] && *row[4] == "p";
  t.has_pk = row[5] && *row[5] == "t";
  // A malformed JSON column leaves that part unknown, never the whole table.
  const auto json_rows = [](const std::optional<std::string>& v) {
    nlohmann::json j = v ? nlohmann::json::parse(*v, nullptr, false) : nlohmann::json();
    return j.is_array() ? j : nlohmann::json::array();
  };
  for (const auto& col : json_rows(row[6]))
    if (col.is_array() && col.size() == 2 && col[0].is_string() && col[1].is_string())
      t.columns[col[0].get<std::string>()] = col[1].get<std::string>();
  for (const auto& idx : json_rows(row[7])) {
    if (!idx.is_array() || idx.size() != 4 || !idx[0].is_string()) continue;
    policy::IndexInfo info;
    info.name = idx[0].get<std::string>();
    info.unique = idx[1].is_boolean() && idx[1].get<bool>();
    info.valid = !idx[2].is_boolean() || idx[2].get<bool>();
    if (idx[3].is_array())
      for (const auto& c : idx[3]) info.columns.push_back(c.is_string() ? c.get<std::string>() : std::string());
    t.indexes.push_back(std::move(info));
  }
  for (const auto& con : json_rows(row[8])) {
    if (!con.is_array() || con.size() != 4 || !con[0].is_string() || !con[1].is_string()) continue;
    policy::ConstraintInfo info;
    info.name = con[0].get<std::string>();
    const auto type = con[1].get<std::string>();
    info.type = type.empty() ? 'c' : type[0];
    info.definition = con[2].is_string() ? con[2].get<std::string>() : std::string();
    info.validated = !con[3].is_boolean() || con[3].get<bool>();
    t.constraints.push_back(std::move(info));
  }
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

std::vector<policy::IndexInfo> LiveFacts::indexes(const policy::QualifiedName& table) const {
  const auto* t = find(table);
  return t ? t->indexes : std::vector<policy::IndexInfo>{};
}

std::vector<policy::ConstraintInfo> LiveFacts::constraints(const policy::QualifiedName& table) const {
  const auto* t = find(table);
  return t ? t->constraints : std::vector<policy::ConstraintInfo>{};
}

std::optional<std::string> LiveFacts::column_type(const policy::QualifiedName& table, std::string_view column) const {
  const auto* t = find(table);
  if (!t) return std::nullopt;
  const auto it = t->columns.find(std::string(column));
  return it == t->columns.end() ? std::nullopt : std::optional<std::string>(it->second);
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
