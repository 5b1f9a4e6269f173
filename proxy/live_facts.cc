#include "proxy/live_facts.h"

#include <nlohmann/json.hpp>

#include <algorithm>
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

/// A JSON array column; a malformed or NULL one is an empty array: that part stays unknown,
/// never the whole table.
nlohmann::json json_array(const std::optional<std::string>& v) {
  nlohmann::json j = v ? nlohmann::json::parse(*v, nullptr, false) : nlohmann::json();
  return j.is_array() ? j : nlohmann::json::array();
}

/// indkey as text ("1 3 0"): attnums, 0 for an expression column.
std::vector<std::int64_t> attnums(const std::string& indkey) {
  std::vector<std::int64_t> out;
  const char* p = indkey.data();
  const char* const end = p + indkey.size();
  while (p < end) {
    if (*p == ' ') {
      ++p;
      continue;
    }
    std::int64_t n = 0;
    const auto r = std::from_chars(p, end, n);
    if (r.ec != std::errc{}) break;
    out.push_back(n);
    p = r.ptr;
  }
  return out;
}

}  // namespace

std::string LiveFacts::catalog_query(const std::vector<policy::QualifiedName>& tables, bool in_transaction) {
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
  // character survive the trip. Each subquery adds to the server's parse and plan time even
  // when it finds nothing, so every one here is needed: the primary key comes from the
  // constraints, an index's columns from its indkey and the columns' attnums.
  std::string sql =
      "SELECT t.ord, c.oid::text, n.nspname, "
      "c.reltuples::bigint, c.relpages::bigint * current_setting('block_size')::bigint, c.relkind::text, "
      "(SELECT json_agg(json_build_array(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, "
      "    a.attnum)) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), "
      "(SELECT json_agg(json_build_array(ic.relname, i.indisunique, i.indisvalid, i.indkey::text, i.indnkeyatts, "
      "    i.indpred IS NOT NULL)) "
      "   FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid), "
      "(SELECT json_agg(json_build_array(k.conname, k.contype::text, pg_catalog.pg_get_constraintdef(k.oid), "
      "    k.convalidated)) FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid)";
  if (in_transaction)
    sql +=
        // Created by this very transaction: no other session can see the table, so no lock on
        // it blocks anyone. Read from the pg_attribute row of the system column ctid, which
        // CREATE writes and no ALTER rewrites — not from the pg_class row, which nearly every
        // ALTER TABLE (ADD COLUMN, RENAME, a rewrite) updates, so that an altered table would
        // look new. (Created under a savepoint, the row has a subtransaction's xid and this
        // says no: the rules then judge it as an existing table.)
        ", (SELECT sa.xmin::text FROM pg_catalog.pg_attribute sa WHERE sa.attrelid = c.oid AND sa.attnum = -1) = "
        "(pg_catalog.txid_current_if_assigned() & 4294967295)::text, "
        // ACCESS EXCLUSIVE held by this very session (an earlier message of its transaction):
        // a long statement on the table now keeps everyone else out for its whole run.
        "EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.locktype = 'relation' AND l.relation = c.oid "
        "  AND l.pid = pg_catalog.pg_backend_pid() AND l.mode = 'AccessExclusiveLock' AND l.granted)";
  return sql + " FROM (VALUES " + values +
         ") AS t(ord, name) "
         "LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name) "
         "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
         "ORDER BY t.ord";
}

std::string LiveFacts::partitions_query() const {
  std::string roots;
  for (const auto& [ref, t] : tables_)
    if (t.partitioned && t.oid != 0) roots += (roots.empty() ? "(" : ", (") + std::to_string(t.oid) + "::oid)";
  if (roots.empty()) return {};
  // Partitions at any depth, parents first, walking pg_inherits (pg_partition_tree would lock
  // every partition). Each: schema, name, parent schema, parent name, relkind, default. The oids
  // are numbers the first query returned, printed back as numbers.
  return "SELECT r.oid::text, (WITH RECURSIVE p(oid, parent, level) AS ("
         "    SELECT ih.inhrelid, ih.inhparent, 1 FROM pg_catalog.pg_inherits ih WHERE ih.inhparent = r.oid "
         "    UNION ALL SELECT ih.inhrelid, ih.inhparent, p.level + 1 FROM pg_catalog.pg_inherits ih "
         "    JOIN p ON ih.inhparent = p.oid WHERE p.level < 16) "
         "  SELECT json_agg(json_build_array(pn.nspname, pc.relname, qn.nspname, qc.relname, pc.relkind::text, "
         "      pc.oid = pt.partdefid) ORDER BY p.level, pn.nspname, pc.relname) "
         "    FROM p JOIN pg_catalog.pg_class pc ON pc.oid = p.oid "
         "    JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace "
         "    JOIN pg_catalog.pg_class qc ON qc.oid = p.parent "
         "    JOIN pg_catalog.pg_namespace qn ON qn.oid = qc.relnamespace "
         "    LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = p.parent) "
         "FROM (VALUES " +
         roots + ") AS r(oid)";
}

std::string LiveFacts::identity_query() {
  // Granted memberships, followed transitively. Not pg_has_role(): it calls a superuser a member
  // of every role, which would put every superuser in every role scope.
  return "WITH RECURSIVE m(oid) AS ("
         "  SELECT a.roleid FROM pg_catalog.pg_auth_members a "
         "   WHERE a.member = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) "
         "  UNION SELECT a.roleid FROM pg_catalog.pg_auth_members a JOIN m ON a.member = m.oid) "
         "SELECT current_user, (SELECT json_agg(r.rolname ORDER BY r.rolname) FROM pg_catalog.pg_roles r "
         "WHERE r.oid IN (SELECT oid FROM m))";
}

void LiveFacts::set_identity(const std::vector<std::optional<std::string>>& row) {
  if (row.size() != 2 || !row[0]) return;
  Identity id;
  id.current_role = *row[0];
  if (row[1]) {
    const auto roles = nlohmann::json::parse(*row[1], nullptr, false);
    if (roles.is_array())
      for (const auto& r : roles)
        if (r.is_string()) id.member_of.push_back(r.get<std::string>());
  }
  identity_ = std::move(id);
}

void LiveFacts::add_row(const std::vector<std::optional<std::string>>& row,
                        const std::vector<policy::QualifiedName>& tables) {
  // 9 columns, 11 inside a transaction.
  if ((row.size() != 9 && row.size() != 11) || !row[2]) return;  // the table does not exist (yet): nothing is known
  const auto ord = to_int(row[0], -1);
  if (ord < 0 || static_cast<std::size_t>(ord) >= tables.size()) return;
  Table t;
  t.oid = static_cast<std::uint32_t>(std::clamp<std::int64_t>(to_int(row[1], 0), 0, 0xFFFFFFFF));
  t.schema = *row[2];
  t.size.rows = to_int(row[3], -1);
  t.size.bytes = to_int(row[4], -1);
  t.partitioned = row[5] && *row[5] == "p";
  std::map<std::int64_t, std::string> by_attnum;
  for (const auto& col : json_array(row[6])) {
    if (!col.is_array() || col.size() < 2 || !col[0].is_string() || !col[1].is_string()) continue;
    const auto name = col[0].get<std::string>();
    t.columns[name] = col[1].get<std::string>();
    if (col.size() >= 3 && col[2].is_boolean()) t.not_null[name] = col[2].get<bool>();
    if (col.size() >= 4 && col[3].is_number_integer()) by_attnum[col[3].get<std::int64_t>()] = name;
  }
  for (const auto& idx : json_array(row[7])) {
    if (!idx.is_array() || idx.size() != 6 || !idx[0].is_string() || !idx[3].is_string()) continue;
    policy::IndexInfo info;
    info.name = idx[0].get<std::string>();
    info.unique = idx[1].is_boolean() && idx[1].get<bool>();
    info.valid = !idx[2].is_boolean() || idx[2].get<bool>();
    // Key columns only (INCLUDE columns follow them in indkey); an expression is "".
    const auto keys = idx[4].is_number_integer() ? idx[4].get<std::int64_t>() : 0;
    for (const auto n : attnums(idx[3].get<std::string>())) {
      if (static_cast<std::int64_t>(info.columns.size()) >= keys) break;
      const auto it = by_attnum.find(n);
      info.columns.push_back(it == by_attnum.end() ? std::string() : it->second);
    }
    info.partial = idx[5].is_boolean() && idx[5].get<bool>();
    t.indexes.push_back(std::move(info));
  }
  for (const auto& con : json_array(row[8])) {
    if (!con.is_array() || con.size() != 4 || !con[0].is_string() || !con[1].is_string()) continue;
    policy::ConstraintInfo info;
    info.name = con[0].get<std::string>();
    const auto type = con[1].get<std::string>();
    info.type = type.empty() ? 'c' : type[0];
    info.definition = con[2].is_string() ? con[2].get<std::string>() : std::string();
    info.validated = !con[3].is_boolean() || con[3].get<bool>();
    t.has_pk = t.has_pk || info.type == 'p';
    t.constraints.push_back(std::move(info));
  }
  t.created_in_transaction = row.size() == 11 && row[9] && *row[9] == "t";
  t.access_exclusive_held = row.size() == 11 && row[10] && *row[10] == "t";
  const auto& ref = tables[static_cast<std::size_t>(ord)];
  tables_[{ref.schema, ref.name}] = std::move(t);
}

void LiveFacts::add_partitions_row(const std::vector<std::optional<std::string>>& row) {
  if (row.size() != 2) return;
  const auto oid = to_int(row[0], 0);
  for (auto& [ref, t] : tables_) {
    if (!t.partitioned || t.oid == 0 || static_cast<std::int64_t>(t.oid) != oid) continue;
    t.partitions.clear();
    t.partitions_read = true;
    for (const auto& p : json_array(row[1])) {
      if (!p.is_array() || p.size() != 6) continue;
      bool strings = true;
      for (int k = 0; k < 5; ++k) strings = strings && p[k].is_string();
      if (!strings) continue;
      policy::PartitionInfo info;
      info.table = {p[0].get<std::string>(), p[1].get<std::string>()};
      info.parent = {p[2].get<std::string>(), p[3].get<std::string>()};
      const auto kind = p[4].get<std::string>();
      info.partitioned = kind == "p";
      info.foreign = kind == "f";
      info.is_default = p[5].is_boolean() && p[5].get<bool>();
      t.partitions.push_back(std::move(info));
    }
  }
}

std::vector<policy::QualifiedName> LiveFacts::created_in_transaction() const {
  std::vector<policy::QualifiedName> out;
  for (const auto& [ref, t] : tables_)
    if (t.created_in_transaction) out.push_back({t.schema, ref.second});
  return out;
}

bool LiveFacts::holds_access_exclusive(const policy::QualifiedName& table) const {
  if (assume_exclusive_locks_) return true;
  const auto* t = find(table);
  return t && t->access_exclusive_held;
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

bool LiveFacts::describes(const policy::QualifiedName& table) const {
  // A partitioned table whose partitions were not read (the follow-up query failed) is not
  // fully described: "no partitions" would make a plain CREATE INDEX look instant.
  const auto* t = find(table);
  return t && (!t->partitioned || t->partitions_read);
}

std::optional<bool> LiveFacts::column_not_null(const policy::QualifiedName& table, std::string_view column) const {
  const auto* t = find(table);
  if (!t) return std::nullopt;
  const auto it = t->not_null.find(std::string(column));
  return it == t->not_null.end() ? std::nullopt : std::optional<bool>(it->second);
}

std::vector<policy::PartitionInfo> LiveFacts::partitions(const policy::QualifiedName& table) const {
  const auto* t = find(table);
  return t ? t->partitions : std::vector<policy::PartitionInfo>{};
}

std::optional<bool> LiveFacts::is_partitioned(const policy::QualifiedName& table) const {
  const auto* t = find(table);
  return t ? std::optional<bool>(t->partitioned) : std::nullopt;
}

}  // namespace schemagate::proxy
