#pragma once
// A CatalogFacts whose answers tests set directly (the proxy's live implementation will answer the
// same questions from pg_catalog).
#include <map>
#include <set>
#include <string>

#include "policy/facts.h"

namespace schemagate::policy {

class FakeFacts final : public CatalogFacts {
 public:
  int version = 150000;
  std::map<std::string, std::int64_t> rows;                 // "schema.table" or "table"
  std::map<std::string, std::vector<IndexInfo>> index_map;
  std::map<std::string, std::vector<ConstraintInfo>> constraint_map;
  std::map<std::string, std::string> column_types;           // "table.column" → format_type()
  std::map<std::string, Volatility> volatility;
  std::map<std::string, std::string> search_path;            // relation → schema
  std::map<std::string, bool> partitioned;
  std::map<std::string, std::vector<PartitionInfo>> partition_map;
  std::map<std::string, bool> not_null;                      // "table.column" → attnotnull
  std::set<std::string> described;                           // tables whose lists are complete
  std::vector<QualifiedName> created_here;                   // created by the open transaction
  std::set<std::string> exclusive_here;                      // ACCESS EXCLUSIVE held by the open transaction
  std::optional<Identity> who;                               // current_user and memberships

  static std::string key(const QualifiedName& q) { return q.schema.empty() ? q.name : q.schema + "." + q.name; }
  int server_version_num() const override { return version; }
  std::optional<TableSize> table_size(const QualifiedName& t) const override {
    auto it = rows.find(key(t));
    if (it == rows.end()) return std::nullopt;
    return TableSize{it->second, it->second * 100};
  }
  std::optional<bool> has_primary_key(const QualifiedName&) const override { return std::nullopt; }
  std::vector<IndexInfo> indexes(const QualifiedName& t) const override {
    auto it = index_map.find(key(t));
    return it == index_map.end() ? std::vector<IndexInfo>{} : it->second;
  }
  std::vector<ConstraintInfo> constraints(const QualifiedName& t) const override {
    auto it = constraint_map.find(key(t));
    return it == constraint_map.end() ? std::vector<ConstraintInfo>{} : it->second;
  }
  std::optional<std::string> column_type(const QualifiedName& t, std::string_view c) const override {
    auto it = column_types.find(key(t) + "." + std::string(c));
    if (it == column_types.end()) return std::nullopt;
    return it->second;
  }
  std::optional<Volatility> function_volatility(std::string_view f) const override {
    auto it = volatility.find(std::string(f));
    if (it == volatility.end()) return std::nullopt;
    return it->second;
  }
  std::optional<bool> is_partitioned(const QualifiedName& t) const override {
    auto it = partitioned.find(key(t));
    if (it == partitioned.end()) return std::nullopt;
    return it->second;
  }
  bool describes(const QualifiedName& t) const override { return described.count(key(t)) > 0; }
  std::optional<bool> column_not_null(const QualifiedName& t, std::string_view c) const override {
    auto it = not_null.find(key(t) + "." + std::string(c));
    if (it == not_null.end()) return std::nullopt;
    return it->second;
  }
  std::vector<PartitionInfo> partitions(const QualifiedName& t) const override {
    auto it = partition_map.find(key(t));
    return it == partition_map.end() ? std::vector<PartitionInfo>{} : it->second;
  }
  std::vector<QualifiedName> created_in_transaction() const override { return created_here; }
  std::optional<Identity> identity() const override { return who; }
  bool holds_access_exclusive(const QualifiedName& t) const override { return exclusive_here.count(key(t)) > 0; }
  std::optional<std::string> resolve_schema(std::string_view rel) const override {
    auto it = search_path.find(std::string(rel));
    if (it == search_path.end()) return std::nullopt;
    return it->second;
  }
};

}  // namespace schemagate::policy
